import os
import sys

sys.path.append(os.pardir)
import numpy as np
from simple_convnet import SimpleConvNet

from common.trainer import Trainer
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

# read the data
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)

# if it takes too long, use less data:
# x_train, t_train = x_train[:5000], t_train[:5000]
# x_test, t_test = x_test[:1000], t_test[:1000]

max_epochs = max(1, int(20 * SCALE))

network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)

trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=max_epochs, mini_batch_size=100,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=1000)
trainer.train()

# save the parameters
network.save_params("params.pkl")
print("Saved Network Parameters!")
