<h1><?= htmlspecialchars($greeting) ?>, <?= htmlspecialchars($name) ?>!</h1>
<table>
<tr><th>#</th><th>Item</th><th>Price</th></tr>
<?php foreach ($items as $item): ?>
<tr><td><?= $item['id'] ?></td><td><?= htmlspecialchars($item['name']) ?></td><td><?= number_format($item['price'], 2) ?></td></tr>
<?php endforeach ?>
</table>
