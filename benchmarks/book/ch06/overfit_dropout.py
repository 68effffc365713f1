import os
import sys

sys.path.append(os.pardir)
import numpy as np

from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# fewer training data, to reproduce overfitting
x_train = x_train[:300]
t_train = t_train[:300]

# with or without Dropout, and its ratio
use_dropout = True  # False: without Dropout
dropout_ratio = 0.2

network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100],
                              output_size=10, use_dropout=use_dropout, dropout_ration=dropout_ratio)
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=max(1, int(301 * SCALE)), mini_batch_size=100,
                  optimizer='sgd', optimizer_param={'lr': 0.01}, verbose=True)
trainer.train()

train_acc_list, test_acc_list = trainer.train_acc_list, trainer.test_acc_list
