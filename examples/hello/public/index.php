<?php
// Askr's example app: one front controller. Askr sends every URL that is not a file here
// (with the original REQUEST_URI), so the app routes on the path itself:
//   /         the request as PHP sees it
//   /form     a form; its POST shows $_POST
//   /upload   a file upload; shows name, size, type and SHA-256 of the file
// style.css next to this file is served by Askr as a static file.
declare(strict_types=1);

function e(mixed $value): string
{
    return htmlspecialchars((string) $value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

/** Renders a list of name => value pairs as a table. */
function table(array $rows): string
{
    if (!$rows) {
        return '<p class="empty">(none)</p>';
    }
    $html = '<table>';
    foreach ($rows as $name => $value) {
        $shown = is_array($value) ? json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) : $value;
        $html .= '<tr><th>' . e($name) . '</th><td>' . e($shown) . '</td></tr>';
    }
    return $html . '</table>';
}

function page(string $title, string $body, int $status = 200): void
{
    http_response_code($status);
    header('Content-Type: text/html; charset=utf-8');
    $title = e($title);
    $footer = 'PHP ' . e(PHP_VERSION) . ' on ' . e(php_sapi_name());
    $nav = '';
    foreach (['/' => 'Request', '/form' => 'Form', '/upload' => 'Upload'] as $href => $label) {
        $nav .= '<a href="' . e($href) . '">' . e($label) . '</a>';
    }
    echo <<<HTML
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>{$title} · Askr hello</title>
    <link rel="stylesheet" href="/style.css">
    </head>
    <body>
    <header><strong>Askr</strong> hello app <nav>{$nav}</nav></header>
    <main>
    <h1>{$title}</h1>
    {$body}
    </main>
    <footer>{$footer}</footer>
    </body>
    </html>
    HTML;
}

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';

switch ($path) {
    case '/':
    case '/index.php':
        $highlights = [];
        foreach (['REQUEST_METHOD', 'REQUEST_URI', 'QUERY_STRING', 'SCRIPT_NAME', 'SCRIPT_FILENAME',
                  'PATH_INFO', 'DOCUMENT_ROOT', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
                  'SERVER_SOFTWARE', 'REMOTE_ADDR', 'REMOTE_PORT', 'REQUEST_SCHEME'] as $key) {
            $highlights[$key] = $_SERVER[$key] ?? '';
        }
        page('Request', '<p>This page is <code>index.php</code>, the front controller. '
            . 'Add a query (<a href="/?lang=en&amp;q=askr">/?lang=en&amp;q=askr</a>) and it shows below; '
            . 'a URL that is no file (<a href="/no/such/page">/no/such/page</a>) reaches this script too, '
            . 'which answers it with its own 404 page.</p>'
            . '<h2>Request</h2>' . table(['method' => $method, 'URI' => $_SERVER['REQUEST_URI'] ?? '', 'path' => $path])
            . '<h2>Query ($_GET)</h2>' . table($_GET)
            . '<h2>Headers</h2>' . table(getallheaders())
            . '<h2>$_SERVER highlights</h2>' . table($highlights)
            . '<h2>Cookies</h2>' . table($_COOKIE));
        break;

    case '/form':
        $body = '<form method="post" action="/form">'
            . '<label>Name <input name="name" value="' . e($_POST['name'] ?? '') . '"></label>'
            . '<label>Message <textarea name="message">' . e($_POST['message'] ?? '') . '</textarea></label>'
            . '<label><input type="checkbox" name="colors[]" value="red"> red</label>'
            . '<label><input type="checkbox" name="colors[]" value="blue"> blue</label>'
            . '<button>Send</button></form>';
        if ($method === 'POST') {
            $body .= '<h2>You posted ($_POST)</h2>' . table($_POST);
        }
        page('Form', $body);
        break;

    case '/upload':
        $body = '<form method="post" action="/upload" enctype="multipart/form-data">'
            . '<label>File <input type="file" name="file"></label>'
            . '<button>Upload</button></form>';
        if ($method === 'POST') {
            $file = $_FILES['file'] ?? null;
            if ($file && $file['error'] === UPLOAD_ERR_OK) {
                $body .= '<h2>Uploaded</h2>' . table([
                    'name' => $file['name'],
                    'size' => $file['size'] . ' bytes',
                    'type' => $file['type'],
                    'sha256' => hash_file('sha256', $file['tmp_name']),
                ]);
            } else {
                $body .= '<p class="error">No file arrived (error ' . e($file['error'] ?? 'missing') . ').</p>';
            }
        }
        page('Upload', $body);
        break;

    default:
        page('Not found', '<p>No page at <code>' . e($path) . '</code>: Askr passed this URL to the '
            . 'front controller, which has no route for it.</p>', 404);
}
