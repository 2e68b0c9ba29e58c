<?= isset($flash) ? 'flash=' . $flash : 'no flash' ?>
