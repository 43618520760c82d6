"""Multiple-instance layers: S-MIL pooling, the spatial-temporal encoder and the baselines.

The four poolings share the base class `MILPooling` (masking, instance classifier, shapes);
`PersonSubBags` and `PersonScores` pool each person of a multi-person bag on their own.
"""

from smil_keras.layers.attention_mil_pooling import AttentionMILPooling
from smil_keras.layers.mil_pooling import MILPooling
from smil_keras.layers.noisy_or_mil_pooling import NoisyOrMILPooling
from smil_keras.layers.person_scores import PersonScores
from smil_keras.layers.person_sub_bags import PersonSubBags
from smil_keras.layers.score_pooling import ScorePooling
from smil_keras.layers.smil_pooling import SMILPooling
from smil_keras.layers.spatial_temporal_encoder import SpatialTemporalEncoder

__all__ = [
    "AttentionMILPooling",
    "MILPooling",
    "NoisyOrMILPooling",
    "PersonScores",
    "PersonSubBags",
    "SMILPooling",
    "ScorePooling",
    "SpatialTemporalEncoder",
]
