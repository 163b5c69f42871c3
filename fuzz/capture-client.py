# blockkit fuzzing: records what a real NBD client sends, to make seeds
# for fuzz-handshake (the whole stream) and fuzz-transmission (what
# follows the handshake).  A relay between a client and a server, both
# on Unix sockets:
#
#   blockkit -U /tmp/server.sock memory 1M &
#   python3 fuzz/capture-client.py /tmp/server.sock /tmp/relay.sock OUT &
#   nbdinfo 'nbd+unix:///?socket=/tmp/relay.sock'
#
# writes OUT with every byte the client sent, and exits after that one
# connection.
import socket, sys, threading

server_path, relay_path, out_path = sys.argv[1:4]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(relay_path)
listener.listen(1)
client, _ = listener.accept()
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.connect(server_path)
captured = bytearray()

def pump(src, dst, record):
    while True:
        data = src.recv(65536)
        if not data:
            break
        if record:
            captured.extend(data)
        dst.sendall(data)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

back = threading.Thread(target=pump, args=(server, client, False))
back.start()
pump(client, server, True)
back.join()
with open(out_path, "wb") as f:
    f.write(captured)
