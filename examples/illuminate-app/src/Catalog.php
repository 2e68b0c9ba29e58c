<?php
// A small service the pages use: a fixed list of items, resolved from the container.
namespace App;

final class Catalog
{
    /** @return array<int, array{id: int, name: string, price: float}> */
    public function items(): array
    {
        $items = [];
        foreach (['Anvil', 'Bellows', 'Chisel', 'Drawknife', 'Engraver', 'File', 'Gouge', 'Hammer',
                  'Inkpot', 'Jointer', 'Kiln', 'Lathe'] as $i => $name) {
            $items[] = ['id' => $i + 1, 'name' => $name, 'price' => 3.5 * ($i + 1)];
        }
        return $items;
    }
}
