"""Grad-CAM heat maps of a detector's backbone for single faces (the paper's Fig. 5)."""

import keras
import numpy as np


def grad_cam(detector, faces, layer_name=None):
    """Grad-CAM (Selvaraju et al. 2017) of each face's fake score on a backbone feature map.

    Each face is scored as a bag of one face (the score `frame_model` gives). The gradients of
    that score with respect to the feature map of the backbone's last convolutional stage
    (or `layer_name`), averaged over space, weight the feature map's channels; the ReLU of the
    weighted sum, scaled to `[0, 1]`, is the heat map: where the backbone looked to call the
    face fake. Needs the TensorFlow backend (`tf.GradientTape`).

    Args:
        detector: a `SMILDetector`.
        faces: `(N, S, S, 3)` face crops, pixels in [0, 255] (uint8 or float).
        layer_name: the backbone layer to explain; default the last one with a 4-D output
            (`block14_sepconv2_act` for Xception).

    Returns:
        float32 `(N, h, w)` heat maps in `[0, 1]` at the feature map's resolution (resize them
        to the crop with `overlay_heatmap`).

    Example:

    >>> heatmaps = grad_cam(detector, crops[:3])  # doctest: +SKIP
    >>> overlay_heatmap(crops[0], heatmaps[0])  # doctest: +SKIP
    """
    import tensorflow as tf  # here, so that importing smil_keras.evaluation needs no TensorFlow

    backbone = detector.backbone
    if layer_name is None:
        feature_layers = [layer for layer in backbone.layers if len(layer.output.shape) == 4]
        if not feature_layers:
            raise ValueError(f"backbone {backbone.name} has no layer with a 4-D feature map")
        layer = feature_layers[-1]
    else:
        layer = backbone.get_layer(layer_name)
    features_model = keras.Model(backbone.input, [layer.output, backbone.output])
    # The detector's graph after the backbone: (embeddings (N, M, D), mask) -> (N, 1).
    encoder = detector.get_layer("face_encoder")
    head = keras.Model([encoder.output, detector.input["mask"]], detector.output)

    faces = tf.convert_to_tensor(np.asarray(faces, dtype=np.float32))
    with tf.GradientTape() as tape:
        feature_map, embeddings = features_model(faces, training=False)
        score = head([embeddings[:, None], tf.ones((tf.shape(faces)[0], 1), tf.bool)])
    gradients = tape.gradient(score, feature_map)
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    heatmaps = tf.nn.relu(tf.reduce_sum(channel_weights * feature_map, axis=-1)).numpy()
    peaks = heatmaps.max(axis=(1, 2), keepdims=True)
    return (heatmaps / np.where(peaks > 0, peaks, 1.0)).astype(np.float32)
