# In the book's layout: common.trainer with verbose=True prints the book's lines.
import os
import sys

sys.path.append(os.pardir)
import json

import numpy as np
from common.multi_layer_net import MultiLayerNet
from common.trainer import Trainer

rng = np.random.default_rng(1)
t = rng.integers(0, 3, 90)
x = (3 * rng.standard_normal((3, 5)))[t] + rng.standard_normal((90, 5))
net = MultiLayerNet(input_size=5, hidden_size_list=[10], output_size=3)
untrained = (net.accuracy(x[:60], t[:60]), net.accuracy(x[60:], t[60:]))
trainer = Trainer(net, x[:60], t[:60], x[60:], t[60:], epochs=3, mini_batch_size=20,
                  optimizer='Adam', optimizer_param={'lr': 0.01}, verbose=True)
trainer.train()
with open("result.json", "w") as f:
    json.dump({"untrained": untrained, "train_acc": trainer.train_acc_list, "test_acc": trainer.test_acc_list,
               "loss": trainer.train_loss_list, "final": trainer.test_acc}, f)
