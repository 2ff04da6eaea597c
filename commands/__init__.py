"""Built-in command families; third-party ones come from `chatops.commands` entry points."""
