@extends('layouts.app')
@section('title', 'Messages')
@section('content')
<h1>Leave a message</h1>
@if ($errors->any())
<ul class="errors">
@foreach ($errors->all() as $error)
<li>{{ $error }}</li>
@endforeach
</ul>
@endif
<form method="POST" action="{{ route('messages.store') }}">
@csrf
<input name="author" value="{{ old('author') }}">
<textarea name="body">{{ old('body') }}</textarea>
<button>Send</button>
</form>
<ul class="messages">
@foreach ($messages as $message)
<li>{{ $message->author }}: {{ $message->body }}</li>
@endforeach
</ul>
@if (config('broadcasting.default') === 'askr')
{{-- Messages others post appear live: the askr broadcaster (docs/laravel.md). --}}
<script>
new EventSource('/askr/events?channel=messages').addEventListener('message.posted', (e) => {
    const message = JSON.parse(e.data).data;
    const item = document.createElement('li');
    item.textContent = message.author + ': ' + message.body;
    document.querySelector('ul.messages').prepend(item);
});
</script>
@endif
@endsection
