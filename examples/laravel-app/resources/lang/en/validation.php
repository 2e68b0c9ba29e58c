<?php

// The validation messages the app uses. laravel/laravel ships the full file
// (resources/lang/en/validation.php); Debian's framework package has no language files,
// so without this file the page would show the keys ("validation.min.string").
return [
    'email' => 'The :attribute must be a valid email address.',
    'max' => [
        'numeric' => 'The :attribute must not be greater than :max.',
        'string' => 'The :attribute must not be greater than :max characters.',
    ],
    'min' => [
        'numeric' => 'The :attribute must be at least :min.',
        'string' => 'The :attribute must be at least :min characters.',
    ],
    'required' => 'The :attribute field is required.',
    'string' => 'The :attribute must be a string.',
    'custom' => [],
    'attributes' => [],
];
