import os
import sys

sys.path.append(os.pardir)
import json

from dataset.mnist import load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False, one_hot_label=True)
with open("result.json", "w") as f:
    json.dump({"x": list(x_train.shape), "t": list(t_train.shape), "xt": list(x_test.shape),
               "max": float(x_train.max()), "data_env": os.environ.get("FASTNN_DATA")}, f)
