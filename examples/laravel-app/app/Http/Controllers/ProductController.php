<?php

namespace App\Http\Controllers;

use App\Models\Product;

class ProductController extends Controller
{
    public function index()
    {
        return view('products.index', ['products' => Product::orderBy('name')->get()]);
    }

    /** Route model binding: an unknown id is Laravel's 404 page. */
    public function show(Product $product)
    {
        return view('products.show', ['product' => $product]);
    }
}
