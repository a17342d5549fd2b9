# Shared helpers for the project's scripts: JDK discovery, Debian packages, build.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAR="$ROOT/launcher/target/vhost-user-blk.jar"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Sets JAVA_HOME to a JDK 25 or newer: $JAVA_HOME if it qualifies, else one under /usr/lib/jvm.
find_jdk() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*-2[5-9]* /usr/lib/jvm/jdk-2[5-9]*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    version="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if [ -n "$version" ] && [ "${version%%.*}" -ge 25 ] 2>/dev/null; then
      export JAVA_HOME="$candidate"
      export PATH="$JAVA_HOME/bin:$PATH"
      # Maven's bundled Guava trips JDK 25's sun.misc.Unsafe warnings; they say nothing about us.
      export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
      return 0
    fi
  done
  die "JDK 25 or newer not found (looked at \$JAVA_HOME and /usr/lib/jvm); install one (e.g. Temurin 25) and set JAVA_HOME"
}

# Installs the Debian packages named when any of the commands named is missing.
# Usage: ensure_packages "cmd1 cmd2" pkg1 pkg2 ...
ensure_packages() {
  local cmds="$1"; shift
  local missing=0 c
  for c in $cmds; do
    command -v "$c" >/dev/null 2>&1 || [ -e "$c" ] || missing=1
  done
  [ "$missing" = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing $cmds and no apt-get to install $*"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing $*"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_maven() {
  ensure_packages "mvn" maven
}

# Builds the launcher's runnable jar (and everything it needs) without running tests.
build_jar() {
  ensure_maven
  log "building $JAR"
  (cd "$ROOT" && mvn -q -B -DskipTests -pl launcher -am package) || die "build failed"
}

# Builds the launcher jar and the test frontend the benchmarks run (no tests, no install).
build_bench() {
  ensure_maven
  log "building the launcher jar and the test frontend"
  (cd "$ROOT" && mvn -q -B -DskipTests -pl launcher,tests -am package) || die "build failed"
}

# Runs a benchmark main class of the tests module against the built jar: run_bench CLASS ARGS...
run_bench() {
  local class="$1"; shift
  [ -f "$JAR" ] || die "$JAR is missing (run without --no-build)"
  exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xss1m \
    -cp "$ROOT/tests/target/classes:$JAR" "$class" --jar "$JAR" "$@"
}
