# What the curl plugin's tests share (sourced after tests/functions.sh):
# a real nginx of the test's own, started on 127.0.0.1 with a config and
# prefix under $tmp (never a system nginx), and the small python server
# (test-http-server.py) for what nginx will not do on demand.  Every
# server is stopped by pid when the test exits.
#
#   www=$tmp/www                 the document root (tests put files there)
#   start_nginx                  start it; sets $nginx_pid, $http_port,
#                                and $https_port when $certs is set (a
#                                directory made by tests/make-tls-certs.sh)
#   stop_nginx                   stop it (by pid), keeping its ports
#   start_pyserver NAME MODE FILE [DELAY]
#                                sets $py_port; requests go to
#                                $tmp/NAME.log (record and slow modes)
#
# nginx's layout: /disk.img etc. from $www; /private/ behind basic auth
# ($tmp/htpasswd); /moved.img answers 302 to /disk.img; /nohead.img is
# /disk.img for GET but refuses HEAD with 405 (as a presigned S3 URL
# refuses any method it was not signed for); /forbidden.img and
# /unavailable.img answer 403 and 503; /moved-away.img redirects to a
# missing file.  Everything is logged to $tmp/nginx/access.log with the
# Range, the status, the User-Agent, X-Blockkit-Test and Cookie headers
# and the user.

NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$NGINX" ]] || skip "nginx is not installed (Debian: nginx-light)"
requires_python

www="$tmp/www"
mkdir -p "$www" "$tmp/nginx"
http_port=
https_port=
nginx_pid=

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_open PORT: true when something accepts connections there.
port_open() {
    "$PYTHON" -c 'import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))' "$1"
}

_write_nginx_conf() {
    local n="$tmp/nginx" user=
    # As root, nginx's workers would run as nobody, who cannot enter the
    # test's private mktemp directory.
    [[ $(id -u) -eq 0 ]] && user="user root;"
    cat >"$n/nginx.conf" <<EOF
$user
daemon off;
worker_processes 2;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 512; }
http {
    client_body_temp_path $n/body;
    proxy_temp_path $n/proxy;
    fastcgi_temp_path $n/fastcgi;
    uwsgi_temp_path $n/uwsgi;
    scgi_temp_path $n/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 1000000;
    log_format t '\$request|\$http_range|\$status|\$http_user_agent|\$http_x_blockkit_test|\$http_cookie|\$remote_user';
    access_log $n/access.log t;
    server {
        listen 127.0.0.1:$http_port;
        root $www;
        location /private/ {
            auth_basic "blockkit test";
            auth_basic_user_file $tmp/htpasswd;
        }
        location = /moved.img { return 302 /disk.img; }
        location = /moved-away.img { return 302 /missing.img; }
        location = /forbidden.img { return 403; }
        location = /unavailable.img { return 503; }
        location = /nohead.img {
            if (\$request_method = HEAD) { return 405; }
            alias $www/disk.img;
        }
    }
EOF
    if [[ -n "${certs:-}" ]]; then
        cat >>"$n/nginx.conf" <<EOF
    server {
        listen 127.0.0.1:$https_port ssl;
        ssl_certificate $certs/server-cert.pem;
        ssl_certificate_key $certs/server-key.pem;
        root $www;
        location /private/ {
            auth_basic "blockkit test";
            auth_basic_user_file $tmp/htpasswd;
        }
    }
EOF
    fi
    echo "}" >>"$n/nginx.conf"
}

# Starts nginx on the ports already chosen, or on new free ones (a port
# taken between choosing and binding is retried with another).
start_nginx() {
    local try i first=
    [[ -z "$http_port" ]] && first=yes
    for try in 1 2 3 4 5; do
        if [[ -n "$first" ]]; then
            http_port=$(free_port)
            [[ -n "${certs:-}" ]] && https_port=$(free_port)
        fi
        _write_nginx_conf
        "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
            -e "$tmp/nginx/error.log" >>"$tmp/nginx/stderr" 2>&1 &
        nginx_pid=$!
        _cleanup_pids+=("$nginx_pid")
        for i in $(seq 100); do
            if ! kill -0 "$nginx_pid" 2>/dev/null; then break; fi
            if port_open "$http_port" &&
               { [[ -z "$https_port" ]] || port_open "$https_port"; }; then
                return 0
            fi
            sleep 0.1
        done
        kill "$nginx_pid" 2>/dev/null || :
        wait "$nginx_pid" 2>/dev/null || :
        [[ -z "$first" ]] && break
    done
    cat "$tmp/nginx/error.log" "$tmp/nginx/stderr" >&2 || :
    fail "nginx did not start"
}

stop_nginx() {
    local i
    kill "$nginx_pid" 2>/dev/null || :
    for i in $(seq 100); do
        kill -0 "$nginx_pid" 2>/dev/null || { wait "$nginx_pid" 2>/dev/null || :; return 0; }
        sleep 0.1
    done
    fail "nginx $nginx_pid did not stop"
}

start_pyserver() {
    local name="$1" mode="$2" file="$3" delay="${4:-0}" i pid
    rm -f "$tmp/$name.port"
    "$PYTHON" "$srcdir/test-http-server.py" "$mode" "$file" \
        "$tmp/$name.port" "$tmp/$name.log" "$delay" 2>>"$tmp/$name.err" &
    pid=$!
    _cleanup_pids+=("$pid")
    for i in $(seq 100); do
        [[ -s "$tmp/$name.port" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.err" >&2; fail "$name did not start"; }
        sleep 0.1
    done
    py_port=$(cat "$tmp/$name.port")
}

# A disk image with data that differs in every 512-byte sector, so a read
# from the wrong offset cannot pass for the right one.
make_image() {  # make_image FILE SIZE-IN-MiB
    "$PYTHON" - "$1" "$2" <<'EOF'
import os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for s in range(mib * 2048):
        f.write(struct.pack("<Q", s) * 2 + os.urandom(496))
EOF
}
