"""Tracebacks with the user's own frames first: framework frames are set aside, not lost.

A job's traceback opens with a dozen frames of dj_queue, pluggy and Django before the line of
the task that raised; operators need that line first. ``user_frames_first(text)`` splits a
formatted traceback (as ``traceback.format_exception`` writes it, chained exceptions included)
into the text without framework frames and the framework frames that were taken out. It works
on plain text and imports nothing from Django, so the log formatters can use it too.
"""

from __future__ import annotations

import re

# Path parts that mark a frame as library code rather than the application's.
FRAMEWORK_PARTS = ("/dj_queue/", "/dj_queue_plugins/", "/pluggy/", "/django/", "/asgiref/",
                   "/site-packages/", "/dist-packages/")
# The standard library: ".../lib/python3.13/..." (not its site-packages, caught above) and
# frozen modules such as "<frozen importlib._bootstrap>".
STDLIB = re.compile(r"/lib/python\d+(\.\d+)?/|^<frozen ")
FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line \d+')
FOLDED = "  [{count} framework frame{s} folded]"


def is_framework_path(path: str) -> bool:
    """True for a file of dj_queue, pluggy, Django, asgiref, an installed package or the stdlib."""
    path = path.replace("\\", "/")
    return any(part in path for part in FRAMEWORK_PARTS) or bool(STDLIB.search(path))


def user_frames_first(text: str) -> tuple[str, str]:
    """Split a traceback into ``(user_part, framework_part)``.

    ``user_part`` keeps every line that is not a framework frame (the "Traceback" headers, the
    user's frames, chaining notes and exception lines), with one ``[N framework frames folded]``
    marker where frames were taken out. When a traceback has no user frame at all, its innermost
    frame stays, so the place that raised is always shown. ``framework_part`` holds the frames
    taken out, in order; it is empty when nothing was folded. Text that is not a traceback comes
    back whole as ``user_part``.
    """
    user: list[str] = []
    framework: list[str] = []
    for section in _sections(text.splitlines()):
        kept, folded = _split_section(section)
        user.extend(kept)
        framework.extend(line for frame in folded for line in frame)
    return _joined(user, text), _joined(framework, text)


def _sections(lines: list[str]) -> list[list[list[str]]]:
    """Group lines into sections of blocks; a block is one frame (its "File" line and the source
    lines under it) or a single other line. A new section starts at each "Traceback" header."""
    sections: list[list[list[str]]] = [[]]
    for line in lines:
        if line.startswith("Traceback (most recent call last)") and sections[-1]:
            sections.append([])
        blocks = sections[-1]
        if FRAME.match(line):
            blocks.append([line])
        elif blocks and FRAME.match(blocks[-1][0]) and line.startswith("    "):
            blocks[-1].append(line)  # the frame's source line, or its ^^^^ markers
        else:
            blocks.append([line])
    return sections


def _split_section(blocks: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    frames = [block for block in blocks if FRAME.match(block[0])]
    framework = [frame for frame in frames if is_framework_path(FRAME.match(frame[0])["path"])]
    if framework and len(framework) == len(frames):
        framework = framework[:-1]  # no user frame: keep the innermost one
    folded_ids = {id(frame) for frame in framework}
    kept: list[str] = []
    marked = False
    for block in blocks:
        if id(block) not in folded_ids:
            kept.extend(block)
        elif not marked:  # one marker per section, where its first folded frame was
            kept.append(FOLDED.format(count=len(framework), s="" if len(framework) == 1 else "s"))
            marked = True
    return kept, framework


def _joined(lines: list[str], original: str) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if original.endswith("\n") else "")
