@extends('layouts.app')
@section('title', 'Log in')
@section('content')
<h1>Log in</h1>
@error('email')<p class="error">{{ $message }}</p>@enderror
<form method="POST" action="/login">
@csrf
<input name="email" value="{{ old('email') }}">
<input name="password" type="password">
<button>Log in</button>
</form>
@endsection
