"""The videos an extraction's inputs name, each with an id unique within the extraction."""

import collections
import logging
import os

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ts",
)
LIST_EXTENSIONS = (".txt", ".lst", ".list")


def find_videos(inputs):
    """The videos named by `inputs`, as `(absolute path, video_id)` pairs in a fixed order.

    Args:
        inputs: a path or a list of paths, each one of
            - a folder: every file with a video extension (`VIDEO_EXTENSIONS`) below it, sorted;
              the video id is its path relative to the folder, without extension;
            - a text file (`.txt`, `.lst`, `.list`): one video path per line (relative paths are
              relative to the list file; blank lines and lines starting with `#` are skipped);
              the id is the line's path without extension;
            - any other file: taken as a video (the extraction records it as an error if it is
              not one); its id is its file name without extension.

    Video ids are unique: when the rules above give several videos the same id (two inputs
    `real/` and `fake/` both holding `001.mp4`, or `a.mp4` beside `a.avi`), each of them gets
    instead the shortest end of its path that tells them apart (`real/001` and `fake/001`; `a.mp4`
    and `a.avi`), and the change is logged.

    Returns:
        List of `(path, video_id)`, in input order (folders sorted), without duplicate paths.

    Raises:
        FileNotFoundError: an input that does not exist (a missing file inside a list is not an
            error here: the extraction records it).

    Example:

    >>> find_videos(["ffpp/original_sequences", "more_videos.txt"])  # doctest: +SKIP
    [('/data/ffpp/original_sequences/youtube/c23/videos/519.mp4', 'youtube/c23/videos/519'), ...]
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    found = []
    for item in map(os.fspath, items):
        if os.path.isdir(item):
            paths = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(item)
                for name in names
                if name.lower().endswith(VIDEO_EXTENSIONS)
            )
            found += [(path, _stem(os.path.relpath(path, item))) for path in paths]
        elif os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
            base = os.path.dirname(item)
            with open(item, encoding="utf-8") as file:
                lines = [line.strip() for line in file]
            for line in lines:
                if line and not line.startswith("#"):
                    found.append((os.path.join(base, line), _stem(os.path.normpath(line))))
        elif os.path.isfile(item):
            found.append((item, _stem(os.path.basename(item))))
        else:
            raise FileNotFoundError(f"input not found: {item}")
    videos, seen = [], set()
    for path, video_id in found:
        path = os.path.abspath(path)
        if path not in seen:
            seen.add(path)
            videos.append((path, video_id))
    return _unique_ids(videos)


def _stem(path):
    """A relative path without extension, as an id: `/`-separated on every system."""
    return os.path.splitext(path)[0].replace(os.sep, "/")


def _unique_ids(videos):
    """`videos` with every id shared by several videos replaced by path ends that differ."""
    paths = [path for path, _ in videos]
    ids = [video_id for _, video_id in videos]
    while True:
        sharing = collections.defaultdict(list)
        for index, video_id in enumerate(ids):
            sharing[video_id].append(index)
        clashes = [indices for indices in sharing.values() if len(indices) > 1]
        if not clashes:
            return list(zip(paths, ids, strict=True))
        for indices in clashes:
            names = [os.path.splitext(paths[i])[0] for i in indices]
            if len(set(names)) < len(names):  # only the extensions differ: keep them
                names = [paths[i] for i in indices]
            parts = [name.split(os.sep) for name in names]
            depth = ids[indices[0]].count("/") + 1
            for take in range(depth, max(map(len, parts)) + 1):
                ends = ["/".join(p[-take:]).lstrip("/") for p in parts]
                if len(set(ends)) == len(ends):
                    break
            logger.info(
                "video id %r names %d videos; their ids are %s",
                ids[indices[0]],
                len(indices),
                ", ".join(map(repr, ends)),
            )
            for index, end in zip(indices, ends, strict=True):
                ids[index] = end
