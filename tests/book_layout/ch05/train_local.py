import os
import sys

sys.path.append(os.pardir)
import json

import common.layers
import common.trainer
import dataset.mnist
from common.extra import VALUE  # the book's own folder stays importable
from common.optimizer import *  # brings np, as the book relies on
from two_layer_local import TwoLayerNet

np.random.seed(0)
x = np.random.randn(60, 4)
t = (x[:, 0] > 0).astype(int)
net = TwoLayerNet(4, 8, 2, weight_init_std=0.5)
opt = SGD(lr=0.5)
for i in range(200):
    opt.update(net.params, net.gradient(x, t))
out = {"acc": float(net.accuracy(x, t)), "argv": sys.argv[1:], "cwd": os.getcwd(), "value": VALUE,
       "layers_mod": common.layers.Affine.__module__, "trainer": common.trainer.Trainer.__module__,
       "mnist": dataset.mnist.load_mnist.__module__, "name": __name__,
       "linked": net.layers['Affine1'].W is net.params['W1']}
with open("result.json", "w") as f:
    json.dump(out, f)
