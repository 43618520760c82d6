"""Bags on disk: one TFRecord example per video in shards, a manifest, and `smil extract`'s job.

The record format is documented in `smil_keras.bags.schema`.
"""

from smil_keras.bags.bag_record import BagRecord
from smil_keras.bags.bag_shard_writer import BagShardWriter
from smil_keras.bags.extract_to_shards import extract_to_shards
from smil_keras.bags.find_videos import find_videos
from smil_keras.bags.folder_lock import FolderLock
from smil_keras.bags.manifest import ManifestRow, read_manifest, write_manifest
from smil_keras.bags.read_bags import read_bags
from smil_keras.bags.schema import SCHEMA_VERSION, parse_bag_example
from smil_keras.bags.shard_files import count_bags, find_shards
from smil_keras.errors import BagFormatError

__all__ = [
    "SCHEMA_VERSION",
    "BagFormatError",
    "BagRecord",
    "BagShardWriter",
    "FolderLock",
    "ManifestRow",
    "count_bags",
    "extract_to_shards",
    "find_shards",
    "find_videos",
    "parse_bag_example",
    "read_bags",
    "read_manifest",
    "write_manifest",
]
