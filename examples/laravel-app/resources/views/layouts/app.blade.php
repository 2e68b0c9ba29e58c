<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>@yield('title') · {{ config('app.name') }}</title></head>
<body>
<nav><a href="/">Products</a> <a href="/messages">Messages</a>
@auth
  <a href="/dashboard">Dashboard</a>
  <form method="POST" action="/logout" style="display:inline">@csrf<button>Log out {{ auth()->user()->name }}</button></form>
@else
  <a href="/login">Log in</a>
@endauth
</nav>
@if (session('status'))
<p class="flash">{{ session('status') }}</p>
@endif
@yield('content')
<footer>Laravel {{ app()->version() }}@if (($_SERVER['ASKR_WORKER'] ?? '') === '1') in worker mode @endif</footer>
</body>
</html>
