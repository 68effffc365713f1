# In the book's layout: common.multi_layer_net_extend and common.trainer, as ch06/ scripts use them.
import os
import sys

sys.path.append(os.pardir)
import json

import numpy as np
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer
from common.util import shuffle_dataset, smooth_curve

rng = np.random.default_rng(0)
t = rng.integers(0, 3, 90)
x = (3 * rng.standard_normal((3, 5)))[t] + rng.standard_normal((90, 5))
x, t = shuffle_dataset(x, t)
net = MultiLayerNetExtend(input_size=5, hidden_size_list=[10, 10], output_size=3,
                          use_dropout=True, dropout_ration=0.1, use_batchnorm=True)
trainer = Trainer(net, x[:60], t[:60], x[60:], t[60:], epochs=3, mini_batch_size=20,
                  optimizer='Adam', optimizer_param={'lr': 0.01}, verbose=False)
trainer.train()
with open("result.json", "w") as f:
    json.dump({"test_acc": trainer.test_acc_list, "loss": len(trainer.train_loss_list),
               "smooth": len(smooth_curve(np.arange(20.0)))}, f)
