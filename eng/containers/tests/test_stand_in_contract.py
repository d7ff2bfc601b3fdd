"""The PostgreSQL and Redis images behave as the official images document.

Run against the stand-ins (or the real images, where present: the same tests
must pass on both). Real containers, on the engine conftest.py provides.
"""
import gzip
import socket
import time

import pytest

from conftest import PGVECTOR, REDIS

PASSWORD = "s3cret pass'word"   # a space and a quote: must survive the file and initdb


def psql(docker, name, sql, *, user="app", db="appdb", password=PASSWORD, host=True, check=True):
    """psql inside the container; host=True goes over TCP to the container's own
    address, so pg_hba's `host all all all` rule (the password) applies."""
    args = ["env", f"PGPASSWORD={password}", "psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-U", user, "-d", db]
    if host:
        args = ["sh", "-c", 'exec "$@" -h "$(hostname -i | cut -d" " -f1)"', "sh", *args]
    return docker.exec(name, *args, check=check, stdin=sql)


def pg_ready(docker, name):
    # The temporary init server listens on the socket only, so TCP answering means the real one is up.
    return lambda: docker.exec(name, "pg_isready", "-q", "-h", "127.0.0.1", check=False).returncode == 0


@pytest.fixture
def initdb_dir(tmp_path):
    d = tmp_path / "initdb.d"
    d.mkdir()
    (d / "01-schema.sql").write_text("CREATE TABLE runs (n serial, what text);\nINSERT INTO runs (what) VALUES ('sql');\n")
    (d / "02-shell.sh").write_text('psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
                                   "-c \"INSERT INTO runs (what) VALUES ('sh')\"\n")
    (d / "03-gz.sql.gz").write_bytes(gzip.compress(b"INSERT INTO runs (what) VALUES ('gz');\n"))
    (d / "04-notes.txt").write_text("not a script: ignored\n")
    for f in d.iterdir():
        f.chmod(0o644)
    d.chmod(0o755)
    tmp_path.chmod(0o755)
    return d


def test_postgres_first_init_creates_db_from_password_file_and_runs_scripts_once(docker, initdb_dir, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    name = docker.start("pg-init", PGVECTOR, options=[
        "-e", "POSTGRES_USER=app", "-e", "POSTGRES_DB=appdb", "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
        "-v", f"{secret}:/run/secrets/pw:ro", "-v", f"{initdb_dir}:/docker-entrypoint-initdb.d:ro"])
    docker.wait_until(name, pg_ready(docker, name), "PostgreSQL accepting TCP connections")

    assert psql(docker, name, "SELECT what FROM runs ORDER BY n").stdout.split() == ["sql", "sh", "gz"]
    assert psql(docker, name, "CREATE EXTENSION vector; SELECT '[1,2]'::vector <-> '[1,3]'::vector").stdout.split() == ["CREATE", "EXTENSION", "1"]
    wrong = psql(docker, name, "SELECT 1", password="wrong", check=False)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    assert docker.pid1_uid(name) == "999", "postgres must run as uid 999, not as root"
    assert docker.exec(name, "cat", "/proc/1/comm").stdout.strip() == "postgres", "postgres must be PID 1"

    # Second start of the same data directory: no init, the scripts do not run again.
    docker.run("restart", name)
    docker.wait_until(name, pg_ready(docker, name), "PostgreSQL after restart")
    assert psql(docker, name, "SELECT count(*) FROM runs").stdout.strip() == "3"
    assert "skipping initialisation" in docker.logs(name) or "Skipping initialization" in docker.logs(name)


def test_postgres_refuses_to_init_without_password(docker):
    name = docker.start("pg-nopw", PGVECTOR)
    docker.run("wait", name, timeout=30)
    assert docker.state(name, "ExitCode") == "1"
    assert "POSTGRES_PASSWORD" in docker.logs(name)


def test_postgres_trust_auth_method_needs_no_password(docker):
    name = docker.start("pg-trust", PGVECTOR, options=["-e", "POSTGRES_HOST_AUTH_METHOD=trust"])
    docker.wait_until(name, pg_ready(docker, name), "PostgreSQL with trust")
    assert psql(docker, name, "SELECT current_user", user="postgres", db="postgres",
                password="anything").stdout.strip() == "postgres"


def socket_dir_mount(docker, engine):
    """A writable /var/run/postgresql for uid 999 on a read-only root fs.
    Podman 4.3 with --read-only gives a tmpfs there mode 1755 root whatever mode= says
    (and resolves /var/run/... through the host's /var/run for volumes): a volume at
    the real path /run/postgresql is what works there (measured; see eng/README.md)."""
    if engine == "podman":
        return ["-v", f"{docker.name('volume', 'pgrun')}:/run/postgresql"]
    return ["--tmpfs", "/var/run/postgresql:rw,mode=1777,size=8m"]


def test_postgres_read_only_non_root_stops_fast_on_sigterm_and_keeps_data(docker, images):
    volume = docker.name("volume", "pgdata")
    options = ["--read-only", "--user", "999:999", "-e", "POSTGRES_USER=app", "-e", "POSTGRES_DB=appdb",
               "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-v", f"{volume}:/var/lib/postgresql/data",
               *socket_dir_mount(docker, images), "--tmpfs", "/tmp:rw,mode=1777,size=64m"]
    name = docker.start("pg-ro", PGVECTOR, options=options)
    docker.wait_until(name, pg_ready(docker, name), "read-only PostgreSQL")
    psql(docker, name, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before stop')")

    seconds = docker.stop_seconds(name, signal="TERM")
    assert seconds < 5, f"SIGTERM stop took {seconds:.1f}s"
    assert docker.state(name, "ExitCode") == "0", docker.logs(name)[-2000:]
    assert "database system is shut down" in docker.logs(name)

    again = docker.start("pg-ro2", PGVECTOR, options=options)
    docker.wait_until(again, pg_ready(docker, again), "read-only PostgreSQL, second start")
    assert psql(docker, again, "SELECT v FROM kept").stdout.strip() == "before stop"
    seconds = docker.stop_seconds(again)   # the image's STOPSIGNAL
    assert seconds < 5, f"docker stop took {seconds:.1f}s"


def redis_command(port, *words):
    """One RESP command from the host through the published port (so protected mode applies)."""
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload.encode())
        time.sleep(0.1)
        return s.recv(4096).decode()


def redis_up(port):
    def probe():
        try:
            return redis_command(port, "PING").startswith(("+PONG", "-DENIED"))
        except OSError:
            return False
    return probe


def test_redis_protected_mode_off_runs_as_999_and_saves_on_stop(docker):
    volume = docker.name("volume", "redisdata")
    options = ["-p", "127.0.0.1::6379", "-v", f"{volume}:/data"]
    name = docker.start("redis", REDIS, "--save", "3600", "1", options=options)
    port = docker.port(name, 6379)
    docker.wait_until(name, redis_up(port), "redis answering")

    # From outside the container and with no password: refused if protected mode were on.
    assert redis_command(port, "SET", "kept", "written just before stop") == "+OK\r\n"
    assert docker.pid1_uid(name) == "999"
    assert docker.exec(name, "cat", "/proc/1/comm").stdout.strip() == "redis-server"

    seconds = docker.stop_seconds(name)
    assert seconds < 5, f"redis stop took {seconds:.1f}s"
    assert docker.state(name, "ExitCode") == "0"
    assert "DB saved on disk" in docker.logs(name)

    docker.run("start", name)
    port = docker.port(name, 6379)
    docker.wait_until(name, redis_up(port), "redis after restart")
    assert redis_command(port, "GET", "kept") == "$24\r\nwritten just before stop\r\n"


def test_redis_config_file_keeps_its_own_protected_mode(docker, tmp_path):
    conf = tmp_path / "redis.conf"
    conf.write_text("protected-mode yes\n")
    conf.chmod(0o644)
    tmp_path.chmod(0o755)
    name = docker.start("redis-conf", REDIS, "/etc/redis-test.conf",
                        options=["-v", f"{conf}:/etc/redis-test.conf:ro"])
    docker.wait_until(name, lambda: docker.exec(name, "redis-cli", "ping", check=False).stdout.strip() == "PONG",
                      "redis with a config file")
    assert docker.exec(name, "redis-cli", "config", "get", "protected-mode").stdout.split() == ["protected-mode", "yes"]
