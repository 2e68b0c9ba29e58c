@extends('layouts.app')
@section('title', 'Dashboard')
@section('content')
<h1>Hello, {{ $user->name }}</h1>
<p class="note">Note: {{ $note ?? 'none' }}</p>
<form method="POST" action="/note">@csrf<input name="note"><button>Save</button></form>
@endsection
