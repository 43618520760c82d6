"""How fast `make_bag_dataset` delivers faces in training mode, against raw JPEG decoding.

Writes `--bags` bags of 20 JPEG face crops (cut with random jitter in position, scale and
brightness from `skimage.data.astronaut()`, a real photo) into a temporary folder, stored as
`smil extract` stores them (`stored_crop`: 331 x 331 px holding 1.11 times the 299 px view),
then measures on the same cores, with 1 and 2 parallel calls (and tf.data thread pools of that
size):

- raw decode: a plain `tf.data` map of `tf.io.decode_jpeg` over the same JPEG bytes held in
  memory (uint8 output, nothing else), batched like the faces below;
- `make_bag_dataset(training=True)` with a 299 model input, the defaults: reading the shards,
  parsing, a random subset of 8 of 20 faces per bag, the 299 px view cut at a random position
  (the random crop), horizontal flip, padding/masking, batching, float32;
- the same with `dtype="uint8"` (the model casts), with `cache=True` (parsed records kept in
  memory after the first epoch, as the raw decode's JPEG bytes are), and both;
- for comparison, crops stored at 299 px without context, as before `stored_crop`: flips only,
  and the old augmentation (a random 0.9 crop resized back to 299 px, emulated by asking a
  view of margin 0.9 * 1.3 from them).

It prints a Markdown table of faces per second, bags per second and the ratio to raw decode
of the same crops (issue 7's target: at least 0.8).

    python benchmarks/pipeline_speed.py [--bags 200] [--seconds 10]
"""

import argparse
import os
import tempfile
import time

import cv2
import numpy as np
import skimage.data
import tensorflow as tf

from smil_keras.bags import BagRecord, BagShardWriter, read_bags
from smil_keras.data import make_bag_dataset
from smil_keras.faces import stored_crop

FACES_PER_BAG, INSTANCES, SIZE, BATCH, MARGIN = 20, 8, 299, 16, 1.3


def write_bags(out_dir, num_bags, size, margin, seed=0):
    """`num_bags` bags of jittered `size` x `size` astronaut face crops, 25 bags per shard."""
    rng = np.random.default_rng(seed)
    photo = skimage.data.astronaut()  # 512 x 512, face around (y=90..240, x=150..300)
    with BagShardWriter(out_dir, videos_per_shard=25) as writer:
        for b in range(num_bags):
            crops = []
            for _ in range(FACES_PER_BAG):
                side = int(rng.integers(180, 260))
                y, x = int(rng.integers(20, 90)), int(rng.integers(100, 170))
                crop = cv2.resize(photo[y:y + side, x:x + side], (size, size),
                                  interpolation=cv2.INTER_AREA)
                crops.append(np.clip(crop * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8))
            writer.write(BagRecord(f"bag{b}", f"bag{b}.mp4", crops, label=b % 2, margin=margin))


def rate(dataset, seconds, faces_of, warmup=1):
    """(faces per second, elements per second) over `seconds` after `warmup` elements."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    faces = elements = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        faces += faces_of(next(iterator))
        elements += 1
    elapsed = time.perf_counter() - start
    return faces / elapsed, elements / elapsed


def with_threads(dataset, threads):
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    return dataset.with_options(options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per measurement")
    args = parser.parse_args()
    stored_size, stored_margin = stored_crop(SIZE, MARGIN)
    with tempfile.TemporaryDirectory() as folder:
        stored, plain = os.path.join(folder, "stored"), os.path.join(folder, "plain")
        write_bags(stored, args.bags, stored_size, stored_margin)
        write_bags(plain, args.bags, SIZE, MARGIN)
        jpegs = {path: [jpeg for record in read_bags(path) for jpeg in record.crops]
                 for path in (stored, plain)}
        configs = [  # name, shards, make_bag_dataset options
            (f"defaults ({SIZE} px view cut at random from {stored_size} px crops + flip, "
             "float32)", stored, {}),
            ("dtype=uint8", stored, dict(dtype="uint8")),
            ("cache=True", stored, dict(cache=True)),
            ("cache=True, dtype=uint8", stored, dict(cache=True, dtype="uint8")),
            (f"crops stored at {SIZE} px without context: flip only", plain, {}),
            (f"crops stored at {SIZE} px without context: old augmentation (0.9 crop resized "
             f"back to {SIZE} px)", plain, dict(margin=0.9 * MARGIN)),
        ]
        rows = []
        for threads in (1, 2):
            raw_faces = {}
            for path, name in ((stored, f"{stored_size} px"), (plain, f"{SIZE} px")):
                raw = tf.data.Dataset.from_tensor_slices(jpegs[path]).repeat().map(
                    lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3), num_parallel_calls=threads
                ).batch(BATCH * INSTANCES).prefetch(2)
                raw_faces[path], _ = rate(with_threads(raw, threads), args.seconds,
                                          lambda batch: int(batch.shape[0]))
                rows.append((threads, f"raw decode of the {name} crops (tf.data map of "
                             "decode_jpeg, uint8)", raw_faces[path], None, 1.0))
            for name, path, options in configs:
                bags = make_bag_dataset(path, training=True, batch_size=BATCH,
                                        instances=INSTANCES, image_size=SIZE, seed=0,
                                        num_parallel_calls=threads, **options)
                cache = options.get("cache", False)
                epoch = -(-args.bags // BATCH)  # a cache fills during the first epoch
                faces, batches = rate(with_threads(bags.repeat(), threads), args.seconds,
                                      lambda batch: int(tf.math.count_nonzero(batch[0]["mask"])),
                                      warmup=epoch + 1 if cache else 1)
                rows.append((threads, f"make_bag_dataset, {name}", faces, batches * BATCH,
                             faces / raw_faces[path]))
    print(f"\n{args.bags} bags x {FACES_PER_BAG} JPEG faces, model input {SIZE}x{SIZE}, training "
          f"mode ({INSTANCES} faces per bag, batch {BATCH}), {os.cpu_count()} CPUs visible\n")
    print("| parallel calls | pipeline | faces/s | bags/s | ratio to raw decode of the same crops |")
    print("|---|---|---|---|---|")
    for threads, name, faces, bags_per_second, ratio in rows:
        bags_text = "" if bags_per_second is None else f"{bags_per_second:.1f}"
        print(f"| {threads} | {name} | {faces:.0f} | {bags_text} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
