# Shared by the load scripts (sourced): waiting for a server's port to
# accept, and stopping the server started in the background.

wait_port() { # port [what]: returns once 127.0.0.1:port accepts (5 s at most)
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "${2:-a server} did not start: nothing listens on port $1" >&2
    return 1
}

stop_server() { # the process SERVER_PID
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
