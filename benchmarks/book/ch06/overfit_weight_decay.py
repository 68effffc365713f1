import os
import sys

sys.path.append(os.pardir)
import numpy as np

from common.multi_layer_net import MultiLayerNet
from common.optimizer import SGD
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# fewer training data, to reproduce overfitting
x_train = x_train[:300]
t_train = t_train[:300]

# weight decay
# weight_decay_lambda = 0 # no weight decay
weight_decay_lambda = 0.1

network = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100], output_size=10,
                        weight_decay_lambda=weight_decay_lambda)
optimizer = SGD(lr=0.01)

max_epochs = max(1, int(201 * SCALE))
train_size = x_train.shape[0]
batch_size = 100

train_loss_list = []
train_acc_list = []
test_acc_list = []

iter_per_epoch = max(train_size / batch_size, 1)
epoch_cnt = 0

for i in range(1000000000):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    grads = network.gradient(x_batch, t_batch)
    optimizer.update(network.params, grads)

    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)

        print("epoch:" + str(epoch_cnt) + ", train acc:" + str(train_acc) + ", test acc:" + str(test_acc))

        epoch_cnt += 1
        if epoch_cnt >= max_epochs:
            break
