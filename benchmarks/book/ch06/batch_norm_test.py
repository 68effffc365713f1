import os
import sys

sys.path.append(os.pardir)
import numpy as np

from common.multi_layer_net_extend import MultiLayerNetExtend
from common.optimizer import SGD
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# fewer training data
x_train = x_train[:1000]
t_train = t_train[:1000]

max_epochs = max(1, int(20 * SCALE))
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.01


def __train(weight_init_std):
    bn_network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100, 100, 100, 100], output_size=10,
                                     weight_init_std=weight_init_std, use_batchnorm=True)
    network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100, 100, 100, 100], output_size=10,
                                  weight_init_std=weight_init_std)
    optimizer = SGD(lr=learning_rate)

    train_acc_list = []
    bn_train_acc_list = []

    iter_per_epoch = max(train_size / batch_size, 1)
    epoch_cnt = 0

    for i in range(1000000000):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]

        for _network in (bn_network, network):
            grads = _network.gradient(x_batch, t_batch)
            optimizer.update(_network.params, grads)

        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            bn_train_acc = bn_network.accuracy(x_train, t_train)
            train_acc_list.append(train_acc)
            bn_train_acc_list.append(bn_train_acc)

            print("epoch:" + str(epoch_cnt) + " | " + str(train_acc) + " - " + str(bn_train_acc))

            epoch_cnt += 1
            if epoch_cnt >= max_epochs:
                break

    return train_acc_list, bn_train_acc_list


# the book draws one panel per weight scale
weight_scale_list = np.logspace(0, -4, num=16)

for i, w in enumerate(weight_scale_list):
    print("============== " + str(i+1) + "/16" + " ==============")
    train_acc_list, bn_train_acc_list = __train(w)
