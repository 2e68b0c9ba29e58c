@extends('layouts.app')
@section('title', $product->name)
@section('content')
<h1>{{ $product->name }}</h1>
<p>Price: {{ $product->price }}, in stock: {{ $product->stock }}</p>
@endsection
