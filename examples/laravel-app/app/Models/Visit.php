<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;

/** A row written by the RecordVisit queued job. */
class Visit extends Model
{
    protected $fillable = ['source'];
}
