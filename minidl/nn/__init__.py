"""The network stack: the model, its training loop, losses, costs and file format, and a zoo.

model          Sequential: forward/backward over layers, state_dict, fit/evaluate/predict, save/load
parallel       DataParallel: a model's forward and backward on parts of the batch, on threads
parallel_processes  ProcessDataParallel: the same parts on worker processes (no shared interpreter)
training       fit (mini-batches, progress bars, history), evaluate, predict
losses         CrossEntropyLoss (log-sum-exp), MSELoss, BCEWithLogitsLoss: value and backward
complexity     summary: per-layer output shape, parameters, MACs, FLOPs, activation memory
serialization  the model file: npz + JSON metadata, written atomically, checked before loading
state_spec     the state each layer's config implies (keys, shapes, dtypes), checked on loading
metrics        accuracy, confusion matrix
plot           training curves, filters, feature maps, confusion matrix
zoo            the articles' networks and the classics (LeNet-5, LeNet-300-100, 3-D / (2+1)-D nets)
"""

from minidl.nn.complexity import (
    Summary,
    count_params,
    summary,
)
from minidl.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Loss,
    MSELoss,
)
from minidl.nn.metrics import (
    accuracy,
    confusion_matrix,
)
from minidl.nn.model import (
    Sequential,
)
from minidl.nn.parallel import (
    DataParallel,
)
from minidl.nn.parallel_processes import (
    ProcessDataParallel,
)
from minidl.nn.plot import (
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
)
from minidl.nn.serialization import (
    load_model,
    load_weights,
    save_model,
)
from minidl.nn.training import (
    evaluate,
    fit,
    predict,
)
from minidl.nn.zoo import (
    article000_cnn,
    article003_cnn,
    conv2plus1d_net,
    conv3d_net,
    frame_average_2d_net,
    lenet5,
    lenet5_caffe,
    lenet_300_100,
)

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "DataParallel",
    "Loss",
    "MSELoss",
    "ProcessDataParallel",
    "Sequential",
    "Summary",
    "accuracy",
    "article000_cnn",
    "article003_cnn",
    "confusion_matrix",
    "conv2plus1d_net",
    "conv3d_net",
    "count_params",
    "evaluate",
    "fit",
    "frame_average_2d_net",
    "lenet5",
    "lenet5_caffe",
    "lenet_300_100",
    "load_model",
    "load_weights",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "predict",
    "save_model",
    "summary",
]
