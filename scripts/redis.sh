# Sourced by scripts: start_redis starts a throwaway redis-server on a free
# loopback port (installing the Debian package if missing), exports
# REDIS_ADDR, and stops it when the script exits.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
install_pkg() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

start_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing redis-server (Debian package)" >&2
    install_pkg redis-server
  fi
  redis_dir=$(mktemp -d)
  redis_pid=""
  trap 'stop_redis' EXIT
  # Try random high ports until a redis-server binds one.
  for _ in $(seq 1 20); do
    redis_port=$(( 20000 + RANDOM % 40000 ))
    redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --databases 2048 \
      --dir "$redis_dir" --logfile "$redis_dir/redis.log" &
    redis_pid=$!
    for _ in $(seq 1 50); do
      if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        export REDIS_ADDR="127.0.0.1:$redis_port"
        return 0
      fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
  done
  echo "could not start redis-server" >&2
  return 1
}

stop_redis() {
  if [ -n "${redis_pid:-}" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "${redis_dir:-}"
}
