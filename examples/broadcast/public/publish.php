<?php
// POST text=...: broadcasts the message to the "chat" channel; answers its event id.
if ($_SERVER['REQUEST_METHOD'] !== 'POST' || !isset($_POST['text']) || $_POST['text'] === '') {
    http_response_code(400);
    exit("POST a non-empty text\n");
}
$message = ['text' => mb_substr($_POST['text'], 0, 500), 'at' => date('H:i:s')];
header('Content-Type: text/plain');
echo askr_broadcast('chat', json_encode($message)), "\n";
