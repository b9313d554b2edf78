"""Training curves from TensorBoard logdirs: fast readers, live tailing, plotting helpers,
health alerts and TensorFlow-free loggers.

The readers need only numpy and fsspec: no TensorFlow, TensorBoard or PyTorch import.
"""

from cnnvis.scalars.display import downsample, smooth, x_axis
from cnnvis.scalars.health import Alert, health_alerts
from cnnvis.scalars.reader import read_histograms, read_images, read_scalars
from cnnvis.scalars.records import CorruptEventFileWarning
from cnnvis.scalars.series import HistogramSeries, ImageEvent, LogdirError, Series
from cnnvis.scalars.tail import ScalarTail
from cnnvis.scalars.writers import EventWriter, KerasLogger, TorchLogger

__all__ = [
    "Alert",
    "CorruptEventFileWarning",
    "EventWriter",
    "HistogramSeries",
    "ImageEvent",
    "KerasLogger",
    "LogdirError",
    "ScalarTail",
    "Series",
    "TorchLogger",
    "downsample",
    "health_alerts",
    "read_histograms",
    "read_images",
    "read_scalars",
    "smooth",
    "x_axis",
]
