"""Classical (parameter-free) optical-flow methods behind the common flow interface.

Each is an ``nn.Module`` mapping two ``B,3,H,W`` RGB images in [0, 1] to the ``B,2,H,W`` flow from the
first to the second, computed image by image on the CPU (numpy/OpenCV inside), for any ``H,W``. Built from
``conf/model/flow/<name>.yaml``.
"""

from visionbench.models.flow.classical.common import ClassicalFlow
from visionbench.models.flow.classical.correlation import CorrelationMatching
from visionbench.models.flow.classical.horn_schunck import HornSchunck
from visionbench.models.flow.classical.lucas_kanade import LucasKanade
from visionbench.models.flow.classical.opencv import DIS, Farneback

__all__ = ["ClassicalFlow", "CorrelationMatching", "DIS", "Farneback", "HornSchunck", "LucasKanade"]
