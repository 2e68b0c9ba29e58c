<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title><?= htmlspecialchars($title) ?> · <?= htmlspecialchars($appName) ?></title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left}</style>
</head>
<body>
<header><a href="/"><?= htmlspecialchars($appName) ?></a></header>
<main>
<?= $body ?>
</main>
<footer>Served by <?= htmlspecialchars(PHP_SAPI) ?><?= isset($_SERVER['ASKR_WORKER']) ? ' in worker mode' : '' ?>.</footer>
</body>
</html>
