<h1><?= (int)$status ?></h1>
