"""Background cells: ``%%imagine --no-wait``, ``%describe --no-wait``, ``%imagine_jobs``.

First in a real IPython shell whose display publisher records every output from any thread
(`_notebook.Notebook`), against the simulator on a socket; then in a real kernel driven by
jupyter_client, where every IOPub message is read with its parent header: what a front end
receives, and the cell it files each output under.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbimages.conversation import Conversation
from nbimages.store import Store

from _notebook import Notebook, Published

PARTIAL_INTERVAL = 0.25  # the simulator's pause before each partial image and the final one
STALL = 20.0  # far longer than any test may take: only a cancel ends such a request in time


@pytest.fixture
def slow(nb: Notebook, sim_server: Any) -> Notebook:
    """The notebook, its simulator pausing between partial images: a job takes about a second."""
    sim_server.server.partial_interval = PARTIAL_INTERVAL
    return nb


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def job_outputs(nb: Notebook, display_id: str | None) -> list[Published]:
    return [o for o in nb.pub.outputs if o.display_id == display_id]


def one_area(outputs: list[Published]) -> None:
    """Shown once, then updated in place."""
    assert outputs and not outputs[0].update and all(o.update for o in outputs[1:]), outputs


def jobs(nb: Notebook) -> list[Any]:
    return list(nb.magics.jobs)


def new_output(outputs: list[Published]) -> Published:
    """The one output a cell added (the updates of jobs already running arrive meanwhile)."""
    [shown] = [o for o in outputs if not o.update]
    return shown


def the_list(outputs: list[Published]) -> Published:
    """The output of ``%imagine_jobs`` among a cell's (the jobs' own updates arrive meanwhile)."""
    [listing] = [o for o in outputs if o.kind == "jobs"]
    return listing


def wait_for_jobs(nb: Notebook, timeout: float = 15.0) -> None:
    for job in jobs(nb):
        assert job.wait(timeout), f"job {job.id} is still {job.state}"


# -- in an IPython shell -----------------------------------------------------------------------
def test_the_cell_returns_at_once_and_the_next_cell_runs_before_the_image_is_done(slow: Notebook) -> None:
    nb = slow
    started = time.perf_counter()
    placeholder = new_output(nb.run("%%imagine --no-wait --partial-images 2 -o lake\na misty lake at dawn\n"))
    returned = time.perf_counter() - started
    assert returned < PARTIAL_INTERVAL, returned
    assert placeholder.kind == "status" and not placeholder.update and "lake" not in nb.shell.user_ns
    [job] = jobs(nb)
    assert job.state in ("queued", "running") and job.where == f"In [{nb.shell.execution_count - 1}]"

    assert all(o.display_id == placeholder.display_id for o in nb.run("answer = 6 * 7"))  # ran while the job streams
    assert nb.shell.user_ns["answer"] == 42 and not job.ended

    wait_for_jobs(nb)
    shown = job_outputs(nb, placeholder.display_id)
    one_area(shown)
    assert [o.kind for o in shown if o.kind != "status"] == ["partial", "partial", "final"]
    final = shown[-1]
    assert "1024×1024" in final.text and final.images()
    lake = nb.shell.user_ns["lake"]  # bound when done, before the final image was shown
    assert lake.path is not None and lake.path.is_file() and str(lake.path) in final.text
    assert nb.conversation.image is lake and job.state == "done" and job.partials == 2
    # Nothing of the job went into the cell that ran meanwhile.
    assert {o.display_id for o in nb.pub.outputs} == {placeholder.display_id}


def test_imagine_jobs_lists_prompt_state_time_partials_and_cell(slow: Notebook) -> None:
    nb = slow
    nb.run("%%imagine --no-wait --partial-images 2\na lighthouse on a cliff\n")
    cell = nb.shell.execution_count - 1
    listing = the_list(nb.run("%imagine_jobs"))
    [row] = listing.meta["jobs"]
    assert row["id"] == 1 and row["prompt"] == "a lighthouse on a cliff" and row["where"] == f"In [{cell}]"
    assert row["state"] in ("queued", "running") and row["elapsed"] >= 0
    assert "a lighthouse on a cliff" in listing.text and "--cancel" in listing.text
    wait_for_jobs(nb)
    listing = the_list(nb.run("%imagine_jobs"))
    [row] = listing.meta["jobs"]
    assert row["state"] == "done" and row["progress"] == "2 partial images"
    assert "<td" in listing.html and "a lighthouse on a cliff" in listing.html


def test_cancel_stops_the_job_within_a_second_and_closes_the_connection(nb: Notebook, sim_server: Any) -> None:
    sim_server.simulator.faults.add("stall", seconds=STALL, at_event=1)  # the first partial, then nothing
    placeholder = new_output(nb.run("%%imagine --no-wait --partial-images 2\na slow painting\n"))
    [job] = jobs(nb)
    wait_until(lambda: job.partials == 1)
    started = time.monotonic()
    listing = the_list(nb.run("%imagine_jobs --cancel 1"))
    assert time.monotonic() - started < 1.0
    assert listing.meta["jobs"][0]["state"] == "cancelled"
    [ending] = sim_server.wait_for_endings(1, timeout=2)
    assert ending.outcome == "client_gone"
    last = job_outputs(nb, placeholder.display_id)[-1]
    assert last.kind == "cancelled" and "cancelled · last partial image saved to" in last.text
    assert nb.magics.store.count(kind="partial") == 1 and nb.magics.store.count(kind="final") == 0
    assert nb.conversation.head is None  # nothing half-made became a turn


def test_cancel_all_and_an_unknown_id(slow: Notebook) -> None:
    nb = slow
    nb.run("%%imagine --no-wait --new\na red kite\n")
    nb.run("%%imagine --no-wait --new\na blue kite\n")
    listing = the_list(nb.run("%imagine_jobs --cancel all"))
    assert [row["state"] for row in listing.meta["jobs"]] == ["cancelled", "cancelled"]
    result = nb.shell.run_cell("%imagine_jobs --cancel 9")
    assert "there is no job 9" in str(result.error_in_exec)


def test_an_error_is_one_line_in_the_jobs_own_output_not_a_traceback(slow: Notebook, sim_server: Any) -> None:
    nb = slow
    sim_server.simulator.faults.add("status", status=400, code="moderation_blocked",
                                    message="Your request was rejected by the safety system.")
    placeholder = new_output(nb.run("%%imagine --no-wait\na forbidden picture\n"))
    nb.run("x = 1")
    wait_for_jobs(nb)
    nb.run("y = 2")  # `Notebook.run` asserts that no traceback was printed anywhere
    last = job_outputs(nb, placeholder.display_id)[-1]
    assert last.meta["error"] == "ContentPolicyError" and last.text.count("\n") == 0
    assert last.text.startswith("nbimages: ContentPolicyError") and jobs(nb)[0].state == "failed"


def test_an_unexpected_error_in_a_job_is_one_line_too(slow: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = slow

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(Store, "save", broken)
    placeholder = new_output(nb.run("%%imagine --no-wait --partial-images 1\na fragile vase\n"))
    wait_for_jobs(nb)
    nb.run("x = 1")
    last = job_outputs(nb, placeholder.display_id)[-1]
    assert "Unexpected error: RuntimeError: the disk caught fire" in last.text and "Traceback" not in last.text


def test_continue_waits_for_the_turn_before_it_and_history_stays_linear(slow: Notebook) -> None:
    nb = slow
    nb.run("%%imagine --no-wait --partial-images 2\na harbour at night\n")
    second = new_output(nb.run("%%imagine --no-wait --continue --partial-images 1\nadd a red boat\n"))
    assert second.kind == "queued" and "queued after job 1" in second.text
    third = new_output(nb.run("%%imagine --no-wait --continue --partial-images 1\nadd fireworks\n"))
    assert "queued after job 2" in third.text
    wait_for_jobs(nb)
    turns = nb.conversation.turns
    assert [t.prompt for t in turns] == ["a harbour at night", "add a red boat", "add fireworks"]
    assert turns[2].parent is turns[1] and turns[1].parent is turns[0]
    responses = nb.requests("/responses")
    assert len(responses) == 2  # each continued from the turn before it, once that one was done
    assert job_outputs(nb, second.display_id)[-1].kind == "final"
    assert [j.state for j in jobs(nb)] == ["done", "done", "done"]


def test_new_conversations_run_side_by_side(slow: Notebook, sim_server: Any) -> None:
    nb = slow
    nb.run("%%imagine --no-wait --new --partial-images 2\na cat\n")
    nb.run("%%imagine --no-wait --new --partial-images 2\na dog\n")
    wait_until(lambda: [j.state for j in jobs(nb)] == ["running", "running"])  # at the same time
    wait_for_jobs(nb)
    cat, dog = (next(t for t in nb.conversation.all_turns if t.prompt == p) for p in ("a cat", "a dog"))
    assert cat.parent is None and dog.parent is None  # two conversations, not one line
    assert nb.conversation.head in (cat, dog)


def test_a_foreground_continue_waits_for_the_background_turn(slow: Notebook) -> None:
    nb = slow
    nb.run("%%imagine --no-wait --partial-images 1\na quiet village\n")
    shown = nb.run("%%imagine --continue --partial-images 1\nadd snow\n")
    assert shown[0].kind == "queued" and shown[-1].kind == "final"
    assert [t.prompt for t in nb.conversation.turns] == ["a quiet village", "add snow"]


def test_an_interrupt_stops_the_foreground_cell_only(slow: Notebook) -> None:
    nb = slow
    placeholder = new_output(nb.run("%%imagine --no-wait --partial-images 2\na windmill\n"))
    result = nb.shell.run_cell("raise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    nb.capfd.readouterr()
    wait_for_jobs(nb)
    assert jobs(nb)[0].state == "done" and job_outputs(nb, placeholder.display_id)[-1].kind == "final"


def test_imagine_wait_config_makes_no_wait_the_default(slow: Notebook) -> None:
    nb = slow
    nb.run("%config Imagine.wait = False")
    placeholder = new_output(nb.run("%%imagine --partial-images 1\na paper boat\n"))
    assert len(jobs(nb)) == 1 and not placeholder.update
    shown = nb.run("%%imagine --wait --new --partial-images 1\na paper plane\n")
    assert shown[-1].kind == "final" and len(jobs(nb)) == 1  # waited: not a background job
    wait_for_jobs(nb)


def test_a_reused_image_shows_in_place_too(slow: Notebook) -> None:
    nb = slow
    nb.run("%%imagine --partial-images 1\na green teapot\n")
    placeholder = new_output(nb.run("%%imagine --no-wait --partial-images 1 -o pot\na green teapot\n"))
    wait_for_jobs(nb)
    shown = job_outputs(nb, placeholder.display_id)
    one_area(shown)
    assert shown[-1].meta["cached"] is True and nb.shell.user_ns["pot"].path.is_file()


def test_describe_no_wait_streams_the_answer_into_its_own_output(slow: Notebook, png: Any, tmp_path: Path) -> None:
    nb = slow
    photo = tmp_path / "photo.png"
    photo.write_bytes(png((64, 48)))
    placeholder = new_output(nb.run(f"%describe --no-wait -o said {photo} what is this"))
    [job] = jobs(nb)
    assert job.kind == "describe"
    wait_for_jobs(nb)
    last = job_outputs(nb, placeholder.display_id)[-1]
    assert "64 × 48" in last.text and nb.shell.user_ns["said"] in last.text


def test_imagine_many_no_wait_is_in_the_same_list(nb: Notebook) -> None:
    nb.run("%%imagine_many --no-wait --quality low -o run\na lighthouse\na harbour\n")
    [job] = jobs(nb)
    assert job.kind == "many" and job.prompt.startswith("a lighthouse")
    nb.shell.user_ns["run"].wait(15)
    listing = the_list(nb.run("%imagine_jobs"))
    assert listing.meta["jobs"][0]["state"] == "done" and listing.meta["jobs"][0]["progress"] == "2 of 2 images"


def test_a_terminal_says_so_once_and_waits(shell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch,
                                           capfd: Any) -> None:
    from IPython.core.displaypub import DisplayPublisher

    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-terminal-test")
    monkeypatch.setattr(shell, "display_pub", DisplayPublisher(shell=shell))
    for prompt in ("a pebble", "a shell"):
        result = shell.run_cell(f"%%imagine --no-wait --partial-images 0 -o x\n{prompt}\n")
        assert result.error_in_exec is None
        assert shell.user_ns["x"].prompt == prompt  # made before the cell returned
    out, err = capfd.readouterr()
    assert err.count("--no-wait needs a notebook") == 1 and "Traceback" not in out + err


def test_unloading_cancels_running_jobs(nb: Notebook, sim_server: Any) -> None:
    sim_server.simulator.faults.add("stall", seconds=STALL, at_event=1)
    nb.run("%%imagine --no-wait --partial-images 2\na slow painting\n")
    [job] = jobs(nb)
    wait_until(lambda: job.partials == 1)
    nb.magics.jobs.shutdown(timeout=2)
    assert job.state == "cancelled"
    assert sim_server.wait_for_endings(1, timeout=2)[0].outcome == "client_gone"


# -- in a real kernel --------------------------------------------------------------------------
class Kernel:
    """A python3 kernel started with jupyter_client; every IOPub message kept, in the order sent.

    Messages are read in this thread only (the blocking client makes an event loop per thread
    that reads); ``header["date"]`` is when the kernel made each one.
    """

    def __init__(self, env: dict[str, str], stderr: Any) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, stderr=stderr)
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []

    def pump(self, timeout: float = 0.05) -> None:
        """Read the IOPub messages that have arrived."""
        while True:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=timeout))
            except queue.Empty:
                return
            timeout = 0.0

    def until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        def pumped() -> bool:
            self.pump()
            return condition()

        wait_until(pumped, timeout)

    def execute(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` (it must not fail); its msg_id, once its reply and idle status arrived."""
        msg_id = self.client.execute(code)
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:  # a late reply to wait_for_ready's kernel_info
            reply = self.client.get_shell_msg(timeout=timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        self.until(lambda: self.index(msg_id, "idle") is not None)
        return str(msg_id)

    def index(self, msg_id: str, state: str) -> int | None:
        """Where the cell's ``status: state`` message is in the IOPub stream."""
        return next((i for i, m in enumerate(self.messages) if m["parent_header"].get("msg_id") == msg_id
                     and m["msg_type"] == "status" and m["content"]["execution_state"] == state), None)

    def displays(self, display_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if (m["content"].get("transient") or {}).get("display_id") == display_id]

    def placeholder_id(self, msg_id: str) -> str:
        """The display id of the first output of a cell (shown before the cell ended)."""
        shown = next(m for m in self.messages
                     if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "display_data")
        assert self.messages.index(shown) < (self.index(msg_id, "idle") or 0)
        return str(shown["content"]["transient"]["display_id"])

    def wait_for_kind(self, display_id: str, kinds: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
        self.until(lambda: any(kind(m) in kinds for m in self.displays(display_id)), timeout)
        return next(m for m in self.displays(display_id) if kind(m) in kinds)

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] == "error"]

    def stop(self) -> float:
        """Shut the kernel down as a front end does; how long it took."""
        started = time.monotonic()
        self.manager.shutdown_kernel(now=False)
        took = time.monotonic() - started
        self.client.stop_channels()
        return took


def kind(message: dict[str, Any]) -> str | None:
    return ((message["content"].get("metadata") or {}).get("nbimages") or {}).get("kind")


@pytest.fixture
def kernel(sim_server: Any, hermetic_env: Path, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel with nbimages loaded, talking to the simulator; its stderr kept in a file."""
    sim_server.server.partial_interval = PARTIAL_INTERVAL
    yield from _kernel(tmp_path, OPENAI_BASE_URL=sim_server.url, OPENAI_API_KEY="sk-kernel-test",
                       NBIMAGES_HOME=str(hermetic_env))


@pytest.fixture
def local_kernel(hermetic_env: Path, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel with nbimages loaded and no API configured: the built-in simulator, announced once."""
    yield from _kernel(tmp_path, NBIMAGES_HOME=str(hermetic_env))


def _kernel(tmp_path: Path, **settings: str) -> Iterator[Kernel]:
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "AZURE_OPENAI_")) and k != "NBIMAGES_BACKEND"}
    env.update(settings, IPYTHONDIR=str(tmp_path / "ipython"))
    with open(tmp_path / "kernel-stderr.txt", "w") as stderr:
        k = Kernel(env, stderr)
        k.stderr_path = tmp_path / "kernel-stderr.txt"  # type: ignore[attr-defined]
        try:
            k.execute("%load_ext nbimages")
            yield k
        finally:
            if k.manager.is_alive():
                k.stop()
            else:
                k.client.stop_channels()


def test_kernel_next_cell_runs_and_updates_carry_the_job_cells_parent(kernel: Kernel) -> None:
    job_cell = kernel.execute("%%imagine --no-wait --partial-images 2 -o lake\na misty lake at dawn\n")
    display_id = kernel.placeholder_id(job_cell)
    other_cell = kernel.execute("sum(range(10))")
    final = kernel.wait_for_kind(display_id, ("final",))
    shown = kernel.displays(display_id)
    other_done = kernel.index(other_cell, "idle")
    assert other_done is not None and other_done < kernel.messages.index(final)  # it ran while the job streamed
    assert any(kernel.messages.index(m) > other_done for m in shown if kind(m) == "partial")
    assert shown[0]["msg_type"] == "display_data" and all(m["msg_type"] == "update_display_data" for m in shown[1:])
    assert {m["parent_header"]["msg_id"] for m in shown} == {job_cell}  # never the cell running meanwhile
    assert [kind(m) for m in shown].count("partial") == 2 and kind(shown[-1]) == "final"
    assert not [m for m in kernel.messages if m["parent_header"].get("msg_id") == other_cell
                and m["msg_type"] in ("display_data", "update_display_data", "error")]
    kernel.execute("assert lake.path.is_file()")


def test_kernel_cancel_error_and_queued_continue(kernel: Kernel, sim_server: Any) -> None:
    sim_server.simulator.faults.add("stall", seconds=STALL, at_event=1)
    stalled = kernel.execute("%%imagine --no-wait --partial-images 2\na slow painting\n")
    stalled_id = kernel.placeholder_id(stalled)
    kernel.wait_for_kind(stalled_id, ("partial",))
    cancel = kernel.execute("%imagine_jobs --cancel 1")
    cancelled = kernel.wait_for_kind(stalled_id, ("cancelled",))
    asked = next(m for m in kernel.messages if m["parent_header"].get("msg_id") == cancel)["header"]["date"]
    assert (cancelled["header"]["date"] - asked).total_seconds() < 1.0
    assert cancelled["parent_header"]["msg_id"] == stalled

    sim_server.simulator.faults.add("status", status=400, code="moderation_blocked", message="Rejected.")
    failing = kernel.execute("%%imagine --no-wait --new\na forbidden picture\n")
    failing_id = kernel.placeholder_id(failing)
    kernel.until(lambda: any(m["content"]["metadata"].get("nbimages", {}).get("error")
                             for m in kernel.displays(failing_id)))
    error = kernel.displays(failing_id)[-1]
    assert error["content"]["data"]["text/plain"].startswith("nbimages: ContentPolicyError")
    assert error["parent_header"]["msg_id"] == failing

    kernel.execute("%%imagine --no-wait --new --partial-images 1\na harbour at night\n")
    second = kernel.execute("%%imagine --no-wait --continue --partial-images 1\nadd a red boat\n")
    queued = kernel.displays(kernel.placeholder_id(second))[0]
    assert kind(queued) == "queued"
    # Why it waits is on the line under it (the clock's), sent from the cell before it returned.
    phases = [m["content"]["data"]["state"]["phase"] for m in kernel.messages[:kernel.index(second, "idle")]
              if m["msg_type"] == "comm_msg" and "phase" in m["content"]["data"].get("state", {})]
    assert any("queued after job 3" in phase for phase in phases), phases
    kernel.wait_for_kind(queued["content"]["transient"]["display_id"], ("final",))
    kernel.execute("from nbimages import current_conversation as cc\n"
                   "assert [t.prompt for t in cc().turns] == ['a harbour at night', 'add a red boat'], cc().turns")
    assert not kernel.errors()
    assert "Traceback" not in kernel.stderr_path.read_text()  # type: ignore[attr-defined]


def test_kernel_shutdown_cancels_running_jobs_and_keeps_what_was_done(kernel: Kernel, sim_server: Any,
                                                                      hermetic_env: Path) -> None:
    done = kernel.execute("%%imagine --no-wait --partial-images 1\na finished sketch\n")
    kernel.wait_for_kind(kernel.placeholder_id(done), ("final",))
    sim_server.simulator.faults.add("stall", seconds=STALL, at_event=1)
    running = kernel.execute("%%imagine --no-wait --new --partial-images 2\na painting never finished\n")
    kernel.wait_for_kind(kernel.placeholder_id(running), ("partial",))

    took = kernel.stop()
    assert took < 5  # it exited by itself: jupyter_client kills a kernel only after 5 s
    store = Store(hermetic_env)
    assert [i.prompt for i in store.list(kind="final")] == ["a finished sketch"]
    assert [i.prompt for i in store.list(kind="partial")] == ["a painting never finished"]
    assert sim_server.wait_for_endings(2, timeout=2)[-1].outcome == "client_gone"
    assert not kernel.errors()
    assert "Traceback" not in kernel.stderr_path.read_text()  # type: ignore[attr-defined]


def notices(kernel: Kernel) -> list[dict[str, Any]]:
    """Every message that carries the simulator notice, whatever its type."""
    return [m for m in kernel.messages if "offline simulator" in str(m["content"])]


def test_kernel_simulator_notice_is_a_quiet_note_in_its_cell(local_kernel: Kernel) -> None:
    cell = local_kernel.execute("import nbimages\nnbimages.Client().close()\nnbimages.Client().close()")
    [notice] = notices(local_kernel)  # once per kernel, and not as a stream named stderr
    assert notice["msg_type"] == "display_data" and notice["parent_header"]["msg_id"] == cell
    data = notice["content"]["data"]
    assert "no OPENAI_API_KEY set" in data["text/plain"]
    assert data["text/html"].startswith('<div style="opacity:') and "no OPENAI_API_KEY set" in data["text/html"]
    assert kind(notice) == "notice"


def test_kernel_simulator_notice_from_a_background_job_goes_to_the_jobs_cell(local_kernel: Kernel) -> None:
    job_cell = local_kernel.execute(
        "import threading, nbimages\n"
        "from nbimages._cell_output import capture\n"
        "from nbimages.jobs import Job\n"
        "go = threading.Event()\n"
        "job = Job('imagine', 'a cat', output=capture(get_ipython()))\n"
        "job.start(lambda job: go.wait(30) and nbimages.Client().close())\n")
    other_cell = local_kernel.execute("go.set()\nassert job.wait(30) and job.state == 'done', job.error")
    [notice] = notices(local_kernel)
    assert notice["msg_type"] == "display_data" and notice["parent_header"]["msg_id"] == job_cell
    sent = local_kernel.messages.index(notice)
    assert local_kernel.index(job_cell, "idle") < sent < local_kernel.index(other_cell, "idle")  # while the other ran


def test_conversation_fork_keeps_its_parent_and_adopt_makes_it_current(client: Any) -> None:
    conv = Conversation(client, store=False)
    first = conv.generate("a cat", quality="low", size="256x256")
    fork = conv.fork(first)
    other = conv.fork(None)
    conv.generate("a dog", quality="low", size="256x256")  # the head moves on meanwhile
    made = fork.send("add a hat", quality="low", size="256x256")
    fresh = other.generate("a bird", quality="low", size="256x256")
    assert made.parent is first and fresh.parent is None
    conv.adopt(made)
    assert conv.head is made and made in conv.all_turns and conv.all_turns.count(made) == 1


@pytest.mark.parametrize("cell", [
    "%%imagine --fresh --partial-images 3 -m gpt-image-1.5\na lighthouse at dusk",
    "%imagine --fresh --partial-images 3 a boat at dawn",
    "%describe last what is in it?",
])
def test_an_interrupted_cell_shows_one_line_not_a_traceback(kernel: Kernel, sim_server: Any, cell: str) -> None:
    if cell.startswith("%describe"):
        kernel.execute("%%imagine --partial-images 0 -m gpt-image-1.5\na cat")
        sim_server.server.latency = 3.0  # the answer takes long enough to be interrupted
    msg_id = kernel.client.execute(cell)
    kernel.until(lambda: any(m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "update_display_data"
                             for m in kernel.messages) or cell.startswith("%describe"), timeout=30)
    time.sleep(0.5)
    kernel.manager.interrupt_kernel()
    kernel.until(lambda: kernel.index(msg_id, "idle") is not None, timeout=30)
    [error] = [m for m in kernel.errors() if m["parent_header"].get("msg_id") == msg_id]
    assert error["content"]["traceback"] == [f"KeyboardInterrupt: {error['content']['evalue']}"]
    assert "interrupted" in error["content"]["evalue"]
    shown = [m for m in kernel.messages if m["parent_header"].get("msg_id") == msg_id
             and m["msg_type"] in ("display_data", "update_display_data")]
    assert shown and "interrupted" in shown[-1]["content"]["data"]["text/plain"]
    stderr = kernel.stderr_path.read_text()  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
