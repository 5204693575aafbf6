"""user_frames_first: the task's own frames first, framework frames folded but kept."""

from __future__ import annotations

import traceback

from dj_queue.tracebacks import is_framework_path, user_frames_first

SITE = "/srv/app/.venv/lib/python3.13/site-packages"
JOB_TRACEBACK = f"""Traceback (most recent call last):
  File "{SITE}/dj_queue/operations/execute.py", line 88, in run
    result = call(job)
  File "{SITE}/pluggy/_hooks.py", line 513, in __call__
    return self._hookexec(self.name, self._hookimpls.copy(), kwargs, firstresult)
  File "{SITE}/pluggy/_callers.py", line 103, in _multicall
    res = hook_impl.function(*args)
          ^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/app/shop/tasks.py", line 12, in send_receipt
    mailer.send(order)
  File "/srv/app/shop/mail.py", line 40, in send
    raise ConnectionError("smtp down")
ConnectionError: smtp down
"""


def test_framework_frames_are_folded_with_a_marker_and_kept_apart():
    user, framework = user_frames_first(JOB_TRACEBACK)

    assert user == (
        "Traceback (most recent call last):\n"
        "  [3 framework frames folded]\n"
        '  File "/srv/app/shop/tasks.py", line 12, in send_receipt\n'
        "    mailer.send(order)\n"
        '  File "/srv/app/shop/mail.py", line 40, in send\n'
        '    raise ConnectionError("smtp down")\n'
        "ConnectionError: smtp down\n"
    )
    assert framework.count('  File "') == 3
    assert "dj_queue/operations/execute.py" in framework and "^^^^" in framework
    assert "shop/tasks.py" not in framework


def test_a_traceback_without_user_frames_keeps_its_innermost_frame():
    text = (f'Traceback (most recent call last):\n  File "{SITE}/django/db/utils.py", line 1, in a\n    x()\n'
            f'  File "/usr/lib/python3.12/json/decoder.py", line 2, in b\n    y()\nValueError: bad\n')
    user, framework = user_frames_first(text)
    assert user == ("Traceback (most recent call last):\n  [1 framework frame folded]\n"
                    '  File "/usr/lib/python3.12/json/decoder.py", line 2, in b\n    y()\nValueError: bad\n')
    assert framework == f'  File "{SITE}/django/db/utils.py", line 1, in a\n    x()\n'


def test_chained_exceptions_are_folded_section_by_section():
    def task_body():
        try:
            int("x")
        except ValueError as exc:
            raise RuntimeError("wrapped") from exc

    try:
        task_body()
    except RuntimeError as exc:
        text = "".join(traceback.format_exception(exc))

    user, framework = user_frames_first(text)

    assert user.count("Traceback (most recent call last)") == 2
    assert "The above exception was the direct cause" in user
    assert user.count("in task_body") == 2 and user.rstrip().endswith("RuntimeError: wrapped")
    assert framework == ""  # this test file is user code, int() has no Python frame


def test_text_that_is_not_a_traceback_comes_back_whole():
    assert user_frames_first("") == ("", "")
    assert user_frames_first("job 7 (shop.tasks.x) was cancelled") == ("job 7 (shop.tasks.x) was cancelled", "")


def test_framework_paths():
    assert is_framework_path(f"{SITE}/requests/api.py")
    assert is_framework_path("C:\\Python313\\Lib\\site-packages\\django\\core\\handlers.py")
    assert is_framework_path("/work/dj_queue/runtime/worker.py")
    assert is_framework_path("/usr/local/lib/python3.13/threading.py")
    assert is_framework_path("<frozen importlib._bootstrap>")
    assert not is_framework_path("/srv/app/shop/tasks.py")
    assert not is_framework_path("/home/me/python3/project/tasks.py")
