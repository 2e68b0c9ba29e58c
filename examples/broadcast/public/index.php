<?php
// A chat room on one page: messages go to askr_broadcast() (publish.php) and come back to
// every open page through EventSource, whichever worker serves it.
//   askr serve --root examples/broadcast/public --broadcast
?><!doctype html>
<meta charset="utf-8">
<title>Askr broadcast example</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto}#log{white-space:pre-wrap}</style>
<h1>Chat</h1>
<form id="say"><input name="text" autocomplete="off" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
const log = document.getElementById('log');
const show = (line) => log.prepend(line + '\n');
const events = new EventSource('/askr/events?channel=chat');
events.addEventListener('message', (e) => {
  const message = JSON.parse(e.data);
  show(`#${e.lastEventId} ${message.at} ${message.text}`);
});
// The stream resumed after too long away: the messages in between are gone.
events.addEventListener('askr-reset', () => show('(missed messages; reload for the history)'));
document.getElementById('say').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  await fetch('publish.php', {method: 'POST', body: new FormData(form)});
  form.text.value = '';
});
</script>
