@extends('layouts.app')
@section('title', 'Products')
@section('content')
<h1>Products</h1>
<table>
@foreach ($products as $product)
<tr><td><a href="{{ route('products.show', $product) }}">{{ $product->name }}</a></td><td>{{ $product->price }}</td><td>{{ $product->stock }}</td></tr>
@endforeach
</table>
@endsection
