# The servers the measurement scripts know by name (scripts/instructions.sh, scripts/ab.sh),
# and their builds. Sourced, with the working directory at the project's root.

bin=target/release

# The command line of server $1: a name below, or a command line given whole (anything with
# a space or a slash), which must take `--addr HOST:PORT` and print `listening on`.
command_of() {
    case "$1" in
    *" "* | */*) echo "$1" ;;
    uring) echo "$bin/echo-server --driver uring --threads 1" ;;
    epoll) echo "$bin/echo-server --driver epoll --threads 1" ;;
    tokio) echo "$bin/examples/tokio_echo_server" ;;
    monoio) echo "$bin/examples/monoio_echo_server" ;;
    uring-loop) echo "$bin/examples/uring_echo_loop" ;;
    epoll-loop) echo "$bin/examples/epoll_echo_loop" ;;
    compat) echo "$bin/examples/compat_echo_server --driver uring --threads 1" ;;
    compat-buf) echo "$bin/examples/compat_echo_server --driver uring --threads 1 --copy-buf" ;;
    hyper-uring) echo "$bin/examples/hyper_server --driver uring --threads 1" ;;
    hyper-epoll) echo "$bin/examples/hyper_server --driver epoll --threads 1" ;;
    hyper-tokio) echo "$bin/examples/hyper_tokio_server" ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
    esac
}

# Builds the echo servers, the load client, and (when one of the names $@ needs them) the
# examples of the `tokio-io` feature, in a build of their own: the feature would change the
# echo-server built first.
build_servers() {
    cargo build --release --bin echo-server --example echo_client --example tokio_echo_server \
        --example monoio_echo_server --example uring_echo_loop --example epoll_echo_loop >&2
    case " $* " in
    *" compat"* | *" hyper-"*)
        cargo build --release --features tokio-io --example compat_echo_server \
            --example hyper_server --example hyper_tokio_server >&2 ;;
    esac
}
