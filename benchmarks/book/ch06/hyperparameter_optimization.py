import os
import sys

sys.path.append(os.pardir)
import numpy as np

from common.multi_layer_net import MultiLayerNet
from common.trainer import Trainer
from common.util import shuffle_dataset
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# fewer training data, to search faster
x_train = x_train[:500]
t_train = t_train[:500]

# split off the validation data
validation_rate = 0.20
validation_num = int(x_train.shape[0] * validation_rate)
x_train, t_train = shuffle_dataset(x_train, t_train)
x_val = x_train[:validation_num]
t_val = t_train[:validation_num]
x_train = x_train[validation_num:]
t_train = t_train[validation_num:]


def __train(lr, weight_decay, epocs=50):
    network = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100],
                            output_size=10, weight_decay_lambda=weight_decay)
    trainer = Trainer(network, x_train, t_train, x_val, t_val,
                      epochs=epocs, mini_batch_size=100,
                      optimizer='sgd', optimizer_param={'lr': lr}, verbose=False)
    trainer.train()

    return trainer.test_acc_list, trainer.train_acc_list


# random search of the hyperparameters
optimization_trial = max(1, int(100 * SCALE))
results_val = {}
results_train = {}
for _ in range(optimization_trial):
    # the search ranges
    weight_decay = 10 ** np.random.uniform(-8, -4)
    lr = 10 ** np.random.uniform(-6, -2)

    val_acc_list, train_acc_list = __train(lr, weight_decay)
    print("val acc:" + str(val_acc_list[-1]) + " | lr:" + str(lr) + ", weight decay:" + str(weight_decay))
    key = "lr:" + str(lr) + ", weight decay:" + str(weight_decay)
    results_val[key] = val_acc_list
    results_train[key] = train_acc_list

# the best results (the book plots them)
print("=========== Hyper-Parameter Optimization Result ===========")
graph_draw_num = 20
i = 0
for key, val_acc_list in sorted(results_val.items(), key=lambda x: x[1][-1], reverse=True):
    print("Best-" + str(i+1) + "(val acc:" + str(val_acc_list[-1]) + ") | " + key)
    i += 1
    if i >= graph_draw_num:
        break
