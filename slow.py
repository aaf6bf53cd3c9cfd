import socket, time, subprocess
socks=[]
for i in range(10):
    s=socket.create_connection(("127.0.0.1",18087))
    s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 20000000\r\n\r\n")
    socks.append(s)
time.sleep(0.5)
t=time.time()
r=subprocess.run(["curl","-s","-o","/dev/null","-w","%{http_code}","-D","-","-H","Content-Type: application/json","--data-binary",'{"pixels":['+",".join(["0.5"]*784)+']}',"http://127.0.0.1:18087/v1/predict"],capture_output=True,text=True)
print("json:",r.stdout.splitlines()[0] if r.stdout else r, round(time.time()-t,1))
t=time.time()
import struct,zlib
r=subprocess.run(["curl","-s","-w","%{http_code}","-H","Content-Type: image/png","--data-binary","@/tmp/h/d.png","http://127.0.0.1:18087/v1/predict"],capture_output=True,text=True)
print("png:",r.stdout[-300:], round(time.time()-t,1))
