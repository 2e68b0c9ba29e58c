<?php

namespace Database\Seeders;

use App\Models\Product;
use App\Models\User;
use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\Hash;

class DatabaseSeeder extends Seeder
{
    public function run()
    {
        User::create(['name' => 'Ada', 'email' => 'ada@example.com', 'password' => Hash::make('secret-ada')]);
        User::create(['name' => 'Bob', 'email' => 'bob@example.com', 'password' => Hash::make('secret-bob')]);
        foreach ([['Lathe', 42, 3], ['Drill press', 17.5, 8], ['Bench vise', 9.99, 20]] as [$name, $price, $stock]) {
            Product::create(['name' => $name, 'price' => $price, 'stock' => $stock]);
        }
    }
}
