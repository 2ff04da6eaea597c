import socket, time, sys
port=int(open('/tmp/docs1irc/port').read())
s=socket.create_connection(('127.0.0.1',port)); s.settimeout(0.3)
def send(l): s.sendall((l+'\r\n').encode())
buf=b''
def pump(t):
    global buf
    end=time.time()+t
    while time.time()<end:
        try: d=s.recv(4096)
        except socket.timeout: continue
        if not d: return
        buf+=d
        while b'\r\n' in buf:
            line,buf=buf.split(b'\r\n',1); l=line.decode('utf-8','replace')
            if l.startswith('PING'): send('PONG'+l[4:])
            elif 'PRIVMSG' in l or 'NOTICE tester' in l: print('<<', l.split(' ',1)[1][:250])
send('NICK tester'); send('USER tester 0 * :t'); pump(1.5); send('JOIN #maison'); pump(1.5)
for line in sys.argv[1:]:
    if line.startswith('PM '): send('PRIVMSG maison :'+line[3:]); print('>> PM', line[3:])
    elif line.startswith('SLEEP'): pump(float(line.split()[1])); continue
    else: send('PRIVMSG #maison :'+line); print('>>', line)
    pump(2.5)
send('QUIT'); pump(0.5)
