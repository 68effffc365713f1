import os
import sys

sys.path.append(os.pardir)
from common.multi_layer_net import MultiLayerNet
from common.optimizer import *
from common.util import smooth_curve
from dataset.mnist import load_mnist

SCALE = float(os.environ.get("BOOK_SCALE", "1"))  # benchmark knob; 1: the book's run
if os.environ.get("BOOK_SEED"):
    np.random.seed(int(os.environ["BOOK_SEED"]))  # benchmark knob: the same draws both ways

# 0: read MNIST
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

train_size = x_train.shape[0]
batch_size = 128
max_iterations = max(11, int(2000 * SCALE))  # smooth_curve needs 11 losses

# 1: the experiment's settings
optimizers = {}
optimizers['SGD'] = SGD()
optimizers['Momentum'] = Momentum()
optimizers['AdaGrad'] = AdaGrad()
optimizers['Adam'] = Adam()
# optimizers['RMSprop'] = RMSprop()

networks = {}
train_loss = {}
for key in optimizers.keys():
    networks[key] = MultiLayerNet(
        input_size=784, hidden_size_list=[100, 100, 100, 100],
        output_size=10)
    train_loss[key] = []

# 2: training
for i in range(max_iterations):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    for key in optimizers.keys():
        grads = networks[key].gradient(x_batch, t_batch)
        optimizers[key].update(networks[key].params, grads)

        loss = networks[key].loss(x_batch, t_batch)
        train_loss[key].append(loss)

    if i % 100 == 0:
        print("===========" + "iteration:" + str(i) + "===========")
        for key in optimizers.keys():
            loss = networks[key].loss(x_batch, t_batch)
            print(key + ":" + str(loss))

# 3: the book plots smooth_curve(train_loss[key]) here
curves = {key: smooth_curve(np.array(train_loss[key])) for key in optimizers.keys()}
